/**
 * An authorization that brings no refresh token (a real oidc-provider asked without
 * offline_access) is said where the human finishes it over HTTP: the API's completion answer
 * carries the warning, the dashboard's notice and the callback page say it with the fix.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLoginLink } from '../../src/server/dashboard/index.js';
import { startHarness, type Harness } from './harness.js';
import { partsOf } from '../../src/warden.js';

let h: Harness;

beforeAll(async () => {
  h = await startHarness({
    extraConnections: (peer, redirectUri) =>
      Promise.resolve({
        short: {
          provider: 'oidc',
          issuer: peer.issuer,
          client_id: peer.clientId,
          client_secret: peer.clientSecret,
          redirect_uri: redirectUri,
          scopes: ['openid', 'api:read'],
          flow: 'auth_code',
        },
      }),
  });
});

afterAll(async () => {
  await h?.close();
});

/** A fresh link for `name`, approved at the provider: the URL the browser ends on. */
async function approvedUrl(name: string): Promise<string> {
  const flow = await partsOf(h.warden).flows.open(name, { reason: 'manual', fresh: true });
  return h.peer.approveAuthorization(flow.url);
}

const json = (body: unknown): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

describe('completion without a refresh token, over HTTP', () => {
  it('the API answer carries the warning (null when a refresh token came back)', async () => {
    const res = await h.api('/api/v1/flows/complete', json({ input: await approvedUrl('short') }));
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ connection: 'short', account: 'alice', kind: 'auth_code' });
    expect(body['warning']).toMatchObject({ id: 'no_refresh_token', confidence: 'known' });
    expect((body['warning'] as { fix: string }).fix).toMatch(/offline_access/);
    expect((await partsOf(h.warden).store.getConnection('short'))?.refreshToken).toBeNull();

    const ok = await h.api('/api/v1/flows/complete', json({ input: await approvedUrl('sandbox') }));
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ connection: 'sandbox', warning: null });
  });

  it('the dashboard notice says it, with the fix', async () => {
    const link = createLoginLink(h.ctx);
    const login = await h.app.request('/login', {
      method: 'POST',
      body: new URLSearchParams({ token: link.searchParams.get('token') ?? '' }),
    });
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await (await h.app.request('/', { headers: { cookie } })).text());
    const done = await h.app.request('/flows/complete', {
      method: 'POST',
      headers: { cookie },
      body: new URLSearchParams({ input: await approvedUrl('short'), _csrf: csrf?.[1] ?? '' }),
    });
    expect(done.status).toBe(303);
    const html = await (await h.app.request('/', { headers: { cookie } })).text();
    expect(html).toMatch(
      /class="notice warn"[^>]*>Accepted: short works now \(account alice\), but the provider issued no refresh token[^<]*Fix: [^<]*offline_access/,
    );
  });

  it('the callback page says it, with the fix', async () => {
    const res = await h.app.request(await approvedUrl('short'));
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('<h1>Authorized</h1>');
    expect(html).toMatch(
      /Accepted: short works now \(account alice\), but the provider issued no refresh token.*Fix: .*offline_access/s,
    );
  });
});
