/**
 * Issue 5, HTTP API through `app.request()` (no socket): a real warden on SQLite, the real
 * orchestrator, a real oidc-provider (and a fault proxy in front of its token endpoint).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WardenEvent } from '../../src/core/types.js';
import { startFaultProxy, type FaultProxy } from '../peers/fault-proxy.js';
import { API_KEY, startHarness, storedSecrets, type Harness } from './harness.js';
import { partsOf } from '../../src/warden.js';

let h: Harness;
let proxy: FaultProxy;

interface ErrorBody {
  error: { code: string; message: string; [k: string]: unknown };
}

beforeAll(async () => {
  h = await startHarness({
    extraConnections: async (peer, redirectUri) => {
      proxy = await startFaultProxy(peer.issuer);
      return {
        flaky: {
          provider: 'oidc',
          issuer: peer.issuer,
          client_id: peer.clientId,
          client_secret: peer.clientSecret,
          redirect_uri: redirectUri,
          scopes: ['openid', 'offline_access'],
          flow: 'auth_code',
          token_url: `${proxy.url}/token`,
        },
      };
    },
  });
});

afterAll(async () => {
  await h?.close();
  await proxy?.stop();
});

const json = (body: unknown): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

describe('HTTP API', () => {
  it('refuses requests without the right bearer key, and never logs the presented key', async () => {
    const none = await h.app.request('/api/v1/connections');
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(((await none.json()) as ErrorBody).error.code).toBe('TW_UNAUTHORIZED');
    const wrongKey = 'wrong-key-with-a-recognisable-value-77';
    const wrong = await h.app.request('/api/v1/connections', { headers: { authorization: `Bearer ${wrongKey}` } });
    expect(wrong.status).toBe(401);
    // A prefix of the real key is still wrong (no prefix comparison).
    const prefix = await h.app.request('/api/v1/connections', {
      headers: { authorization: `Bearer ${API_KEY.slice(0, 10)}` },
    });
    expect(prefix.status).toBe(401);
    const ok = await h.api('/api/v1/connections');
    expect(ok.status).toBe(200);
    expect(h.logs.join('\n')).not.toContain(wrongKey);
    expect(h.logs.join('\n')).not.toContain(API_KEY);
  });

  it('lists connections; an unauthorized one answers the token route 409 with the cause', async () => {
    const list = (await (await h.api('/api/v1/connections')).json()) as {
      connections: Array<{ name: string; state: string }>;
    };
    expect(list.connections.map((c) => [c.name, c.state])).toEqual([
      ['sandbox', 'unauthorized'],
      ['flaky', 'unauthorized'],
    ]);
    const res = await h.api('/api/v1/connections/sandbox/token', { method: 'POST' });
    expect(res.status).toBe(409);
    const body = (await res.json()) as ErrorBody;
    expect(body.error.code).toBe('TW_REAUTH_REQUIRED');
    expect(body.error['connection']).toBe('sandbox');
    expect((body.error['cause'] as { fix: string }).fix).toBeTruthy();
  });

  it('answers unknown connections and routes 404 with a TW_NOT_FOUND body', async () => {
    for (const [path, init] of [
      ['/api/v1/connections/nope', {}],
      ['/api/v1/connections/nope/token', { method: 'POST' }],
      ['/api/v1/connections/nope/reauth', { method: 'POST' }],
      ['/api/v1/no-such-route', {}],
    ] as const) {
      const res = await h.api(path, init);
      expect(res.status, path).toBe(404);
      expect(((await res.json()) as ErrorBody).error.code, path).toBe('TW_NOT_FOUND');
    }
  });

  it('reauth opens a flow; completing it by API makes the connection healthy; the token works', async () => {
    const started = await h.api('/api/v1/connections/sandbox/reauth', json({ reason: 'manual' }));
    expect(started.status).toBe(202);
    const { flow } = (await started.json()) as { flow: Record<string, unknown> };
    expect(flow['kind']).toBe('auth_code');
    expect(String(flow['url'])).toContain(h.peer.issuer);
    // Secret flow fields stay in the store.
    const stored = await partsOf(h.warden).store.getFlow(String(flow['id']));
    expect(stored?.codeVerifier?.length).toBeGreaterThan(20);
    expect(JSON.stringify(flow)).not.toContain(stored?.codeVerifier);
    expect(Object.keys(flow).join()).not.toMatch(/verifier|device|nonce/i);

    const view = (await (await h.api('/api/v1/connections/sandbox')).json()) as {
      open_flow: { id: string; url: string };
    };
    expect(view.open_flow.id).toBe(flow['id']);

    const finalUrl = await h.peer.approveAuthorization(String(flow['url']));
    const done = await h.api('/api/v1/flows/complete', json({ input: finalUrl }));
    expect(done.status).toBe(200);
    expect(await done.json()).toMatchObject({ connection: 'sandbox', flow_id: flow['id'], kind: 'auth_code' });

    const after = (await (await h.api('/api/v1/connections/sandbox')).json()) as Record<string, unknown>;
    expect(after).toMatchObject({ state: 'healthy', open_flow: null, cause: null });
    expect(after['access_expires_in']).toBeGreaterThan(200);

    const tok = await h.api('/api/v1/connections/sandbox/token', { method: 'POST' });
    expect(tok.status).toBe(200);
    expect(tok.headers.get('cache-control')).toBe('no-store');
    const t = (await tok.json()) as { access_token: string; token_type: string; expires_at: string };
    expect(t.token_type.toLowerCase()).toBe('bearer');
    expect(Date.parse(t.expires_at)).toBeGreaterThan(Date.now());
    expect((await h.peer.introspect(t.access_token)).active).toBe(true);

    // The same paste a second time changes nothing and says why.
    const again = await h.api('/api/v1/flows/complete', json({ input: finalUrl }));
    expect(again.status).toBe(400);
    expect(((await again.json()) as ErrorBody).error.message).toMatch(/already used/);
  });

  it.each([
    ['not JSON', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{nope' }, /not valid JSON/],
    ['missing input', json({}), /input/],
    ['wrong type', json({ input: 42 }), /input/],
    ['unknown field', json({ input: 'x', extra: true }), /extra/],
    ['garbage paste', json({ input: 'hello, here is my answer' }), /Not accepted/],
    [
      'forged state',
      json({ input: `${h?.baseUrl ?? 'http://x'}/oauth/callback?code=abc&state=forged` }),
      /does not match any flow/,
    ],
  ] as const)('flows/complete rejects %s with a clear 400', async (_label, init, message) => {
    const res = await h.api('/api/v1/flows/complete', init);
    expect(res.status).toBe(400);
    const body = (await res.json()) as ErrorBody;
    expect(body.error.code).toBe('TW_BAD_INPUT');
    expect(body.error.message).toMatch(message);
  });

  it('a revoked grant answers 409 TW_REAUTH_REQUIRED naming the cause and the flow the human was sent', async () => {
    await h.authorize();
    const requested = new Promise<WardenEvent>((resolve) => {
      const on = (e: WardenEvent): void => {
        if (e.type === 'reauth_requested' && e.connection === 'sandbox') {
          h.warden.events.off('event', on);
          resolve(e);
        }
      };
      h.warden.events.on('event', on);
    });
    await h.peer.revokeGrantsFor();
    await expect(partsOf(h.warden).keeper.forceRefresh('sandbox')).rejects.toMatchObject({
      code: 'TW_REAUTH_REQUIRED',
    });
    await requested;
    const res = await h.api('/api/v1/connections/sandbox/token', { method: 'POST' });
    expect(res.status).toBe(409);
    const body = (await res.json()) as ErrorBody;
    expect(body.error.code).toBe('TW_REAUTH_REQUIRED');
    expect((body.error['cause'] as { id: string }).id).toBeTruthy();
    expect((body.error['reauth'] as { url: string }).url).toContain(h.peer.issuer);
    const view = (await (await h.api('/api/v1/connections/sandbox')).json()) as {
      state: string;
      cause: { fix: string };
    };
    expect(view.state).toBe('awaiting_human');
    expect(view.cause.fix).toBeTruthy();
  });

  it("provider down and no usable token: 503 TW_PROVIDER_UNAVAILABLE with the provider's Retry-After", async () => {
    await h.authorize({ connection: 'flaky' });
    await partsOf(h.warden).store.updateConnection(
      'flaky',
      { accessExpiresAt: Date.now() - 1_000 },
      { now: Date.now() },
    );
    partsOf(h.warden).keeper.invalidate('flaky');
    proxy.setMode('http503', { retryAfterSeconds: 120 });
    try {
      const res = await h.api('/api/v1/connections/flaky/token', { method: 'POST' });
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('120');
      expect(((await res.json()) as ErrorBody).error.code).toBe('TW_PROVIDER_UNAVAILABLE');
    } finally {
      proxy.setMode('pass');
    }
  });

  it('events: since= pages forward; a bad since is a 400', async () => {
    const all = (await (await h.api('/api/v1/events?since=0&limit=1000')).json()) as {
      events: Array<{ id: number; type: string }>;
      next_since: number;
    };
    expect(all.events.map((e) => e.type)).toEqual(
      expect.arrayContaining(['reauth_requested', 'reauth_completed', 'reauth_required']),
    );
    const ids = all.events.map((e) => e.id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    const mid = ids[Math.floor(ids.length / 2)] as number;
    const rest = (await (await h.api(`/api/v1/events?since=${mid}&limit=1000`)).json()) as {
      events: Array<{ id: number }>;
    };
    expect(rest.events.map((e) => e.id)).toEqual(ids.filter((i) => i > mid));
    const none = (await (await h.api(`/api/v1/events?since=${all.next_since}`)).json()) as {
      events: unknown[];
      next_since: number;
    };
    expect(none).toEqual({ events: [], next_since: all.next_since });
    const bad = await h.api('/api/v1/events?since=yesterday');
    expect(bad.status).toBe(400);
    const one = (await (await h.api('/api/v1/events?connection=flaky&limit=1000')).json()) as {
      events: Array<{ connection: string }>;
    };
    expect(one.events.length).toBeGreaterThan(0);
    expect(new Set(one.events.map((e) => e.connection))).toEqual(new Set(['flaky']));
  });

  it('mail routes answer 404 with a clear message when the server runs without mail', async () => {
    const res = await h.api('/api/v1/mailboxes/agent/send', json({ to: 'a@example.com', subject: 'hi', text: 'x' }));
    expect(res.status).toBe(404);
    const body = (await res.json()) as ErrorBody;
    expect(body.error).toMatchObject({ code: 'TW_NOT_FOUND' });
    expect(body.error.message).toMatch(/Mail is not enabled/);
  });

  it('no stored secret appears in any JSON answer other than the token route, nor in the logs', async () => {
    await h.authorize();
    const secrets = [...(await storedSecrets(h.warden, 'sandbox')), ...(await storedSecrets(h.warden, 'flaky'))];
    expect(secrets.length).toBeGreaterThanOrEqual(4);
    const bodies = await Promise.all(
      [
        '/api/v1/connections',
        '/api/v1/connections/sandbox',
        '/api/v1/events?since=0&limit=1000',
        '/api/v1/mailboxes',
      ].map(async (p) => (await h.api(p)).text()),
    );
    bodies.push(await (await h.api('/api/v1/connections/sandbox/reauth', json({ fresh: true }))).text());
    for (const s of secrets) {
      for (const b of bodies) expect(b).not.toContain(s);
      expect(h.logs.join('\n')).not.toContain(s);
    }
  });
});
