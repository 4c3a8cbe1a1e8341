/**
 * The daemon's HTTP server under hostile local clients (in process, real socket, real
 * oidc-provider): a wrong key from anyone never locks out the right one, guessing stays
 * limited per address and across addresses, bodies read before sign-in are small, strangers
 * cannot write events through the callback, the QR route never answers 500, the Host header
 * must name this server, and old events are pruned.
 */
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import { FakeClock } from '../../src/core/clock.js';
import { jsonLogger } from '../../src/core/logger.js';
import { openWarden, partsOf } from '../../src/warden.js';
import { makeWorkspace, type Workspace } from '../helpers/workspace.js';
import { startOidcProvider, type OidcPeer } from '../peers/oidc-provider.js';
import { freePort } from './helpers.js';

const API_KEY = 'hardening-test-key-0123456789abcdef';
const DAY = 86_400_000;

let oidc: OidcPeer;
let ws: Workspace;
let daemon: Daemon;
let port: number;
const clock = new FakeClock(Date.now());
const logs: string[] = [];
let onLog: ((line: string) => void) | null = null;

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One HTTP request over a real socket, optionally from another loopback address. */
function send(
  path: string,
  o: { method?: string; headers?: Record<string, string>; body?: string; from?: string; host?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        path,
        method: o.method ?? 'GET',
        headers: { ...(o.host ? { host: o.host } : {}), ...o.headers },
        ...(o.from ? { localAddress: o.from } : {}),
        agent: false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    if (o.body !== undefined) req.write(o.body);
    req.end();
  });
}

const api = (key: string, from?: string): Promise<Answer> =>
  send('/api/v1/connections', { headers: { authorization: `Bearer ${key}` }, ...(from ? { from } : {}) });

const form = (fields: Record<string, string>): { headers: Record<string, string>; body: string } => ({
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams(fields).toString(),
});

async function signIn(): Promise<string> {
  const token = daemon.loginLink().searchParams.get('token') as string;
  const res = await send('/login', { method: 'POST', ...form({ token }), from: '127.0.0.99' });
  expect(res.status).toBe(303);
  const cookie = /^(tw_session=[^;]+)/.exec(String(res.headers['set-cookie']))?.[1];
  expect(cookie).toBeDefined();
  return cookie as string;
}

beforeAll(async () => {
  port = await freePort();
  const redirectUri = `http://127.0.0.1:${port}/oauth/callback`;
  oidc = await startOidcProvider({ redirectUris: [redirectUri], accessTokenTtl: 300, refreshTokenTtl: 3600 });
  ws = makeWorkspace({
    server: { listen: `127.0.0.1:${port}`, api_key: API_KEY },
    events: { retention_days: 7, max_rows: 50 },
    connections: {
      sandbox: {
        provider: 'oidc',
        issuer: oidc.issuer,
        client_id: oidc.clientId,
        client_secret: oidc.clientSecret,
        redirect_uri: redirectUri,
        scopes: ['openid', 'offline_access', 'api:read'],
        flow: 'auth_code',
      },
    },
  });
  const logger = jsonLogger('debug', (l) => {
    logs.push(l);
    onLog?.(l);
  });
  const warden = await openWarden({ configPath: ws.configPath, clock, logger });
  daemon = await startDaemon({ warden, scheduler: { probeIntervalMs: 0 } });
});

afterAll(async () => {
  await daemon?.close();
  await daemon?.warden.close();
  await oidc?.stop();
  ws?.cleanup();
});

describe('a wrong key never locks out the right one', () => {
  it('API: ten wrong keys from the same address leave the right key working; guessing is answered 429', async () => {
    for (let i = 0; i < 10; i++) expect((await api(`guess-${i}`)).status).toBe(401);
    const limited = await api('guess-10');
    expect(limited.status).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(JSON.parse(limited.body).error.code).toBe('TW_RATE_LIMITED');
    // The agent holding the key, on the same address, is not refused.
    expect((await api(API_KEY)).status).toBe(200);
    expect((await api('guess-11')).status).toBe(429);
    // One token comes back every 6 s per address.
    await clock.advance(6_000);
    expect((await api('guess-12')).status).toBe(401);
    expect((await api('guess-13')).status).toBe(429);
  });

  it('API: rotating loopback addresses does not buy more guesses than the shared budget', async () => {
    let unauthorized = 0;
    let limited = 0;
    for (let i = 2; i < 102; i++) {
      const res = await api(`spray-${i}`, `127.0.1.${i}`);
      if (res.status === 401) unauthorized++;
      else if (res.status === 429) limited++;
    }
    // 60 failures across all addresses at once; 11 were spent above and 3 refilled in those
    // 6 s (one every 2 s): 52 more are answered 401, the rest 429.
    expect(unauthorized).toBe(52);
    expect(limited).toBe(48);
    expect(unauthorized + limited).toBe(100);
    // A fresh address with the right key is answered at once.
    expect((await api(API_KEY, '127.0.2.1')).status).toBe(200);
    // Guessing resumes only as the shared bucket refills (one every 2 s).
    expect((await api('spray-x', '127.0.2.2')).status).toBe(429);
    await clock.advance(2_000);
    expect((await api('spray-y', '127.0.2.3')).status).toBe(401);
    expect((await api('spray-z', '127.0.2.4')).status).toBe(429);
    await clock.advance(300_000);
  });

  it('dashboard: failed sign-ins from the same address do not refuse a valid link', async () => {
    const from = '127.0.3.1';
    for (let i = 0; i < 10; i++)
      expect((await send('/login', { method: 'POST', ...form({ token: `nope-${i}` }), from })).status).toBe(401);
    const limited = await send('/login', { method: 'POST', ...form({ token: 'nope-10' }), from });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    // Looking at a made-up link is a guess too; a real link still shows its sign-in button.
    expect((await send('/login?token=nope-11', { from })).status).toBe(429);
    const token = daemon.loginLink().searchParams.get('token') as string;
    const look = await send(`/login?token=${token}`, { from });
    expect(look.status).toBe(200);
    const ok = await send('/login', { method: 'POST', ...form({ token }), from });
    expect(ok.status).toBe(303);
    expect(String(ok.headers['set-cookie'])).toMatch(/^tw_session=/);
    await clock.advance(300_000);
  });
});

describe('bodies read before sign-in are small', () => {
  it('POST /login with a declared 400 MiB body is answered 413 before the body is read', async () => {
    const res = await new Promise<Answer>((resolve, reject) => {
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port,
          path: '/login',
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(400 * 1024 * 1024) },
          agent: false,
        },
        (r) => {
          let body = '';
          r.setEncoding('utf8');
          r.on('data', (d: string) => (body += d));
          r.on('end', () => resolve({ status: r.statusCode ?? 0, headers: r.headers, body }));
        },
      );
      req.on('error', reject);
      // Only the first bytes are ever sent: the answer must come without the rest.
      req.write('token=');
    });
    expect(res.status).toBe(413);
    expect(res.headers.connection).toBe('close');
  });

  it.each(['/healthz', '/oauth/callback', '/metrics', '/nowhere'])(
    'a large declared body to %s is refused before routing',
    async (path) => {
      const res = await send(path, {
        method: 'POST',
        headers: { 'content-length': String(100 * 1024 * 1024) },
        body: 'x',
      });
      expect(res.status).toBe(413);
      expect(res.headers.connection).toBe('close');
    },
  );

  it('a streamed (chunked) body without Content-Length is cut off at the cap', async () => {
    const big = `token=${'a'.repeat(1024 * 1024)}`;
    const res = await send('/login', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'transfer-encoding': 'chunked' },
      body: big,
    });
    expect(res.status).toBe(413);
    // A form within the cap is still read (and refused for its unknown token).
    const small = await send('/login', { method: 'POST', ...form({ token: 'x'.repeat(1000) }), from: '127.0.3.9' });
    expect(small.status).toBe(401);
    // A streamed form within the cap signs in.
    const token = daemon.loginLink().searchParams.get('token') as string;
    const streamed = await send('/login', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'transfer-encoding': 'chunked' },
      body: new URLSearchParams({ token }).toString(),
      from: '127.0.3.10',
    });
    expect(streamed.status).toBe(303);
  });

  it('dashboard forms are capped too, even for a signed-in session', async () => {
    const cookie = await signIn();
    const res = await send('/flows/complete', {
      method: 'POST',
      headers: {
        cookie,
        'content-type': 'application/x-www-form-urlencoded',
        'content-length': String(10 * 1024 * 1024),
      },
      body: 'input=',
    });
    expect(res.status).toBe(413);
  });
});

describe('the callback does not let strangers write events', () => {
  it('an unknown state records nothing, whatever the error text; the page cannot be framed', async () => {
    const before = await partsOf(daemon.warden).store.listEvents({ newestFirst: true, limit: 1 });
    const junk = encodeURIComponent('<b>spam</b>'.repeat(500));
    for (let i = 0; i < 20; i++) {
      const res = await send(`/oauth/callback?error=access_denied&error_description=${junk}&state=forged-${i}`);
      expect(res.status).toBe(400);
      expect(res.body).toMatch(/does not match any flow/);
      expect(res.body).not.toContain('<b>spam');
      expect(res.headers['content-security-policy']).toMatch(/frame-ancestors 'none'/);
      expect(res.headers['x-frame-options']).toBe('DENY');
    }
    const noState = await send(`/oauth/callback?error=access_denied&error_description=${junk}`);
    expect(noState.status).toBe(400);
    const after = await partsOf(daemon.warden).store.listEvents({ newestFirst: true, limit: 1 });
    expect(after[0]?.id).toBe(before[0]?.id);
  });

  it("the provider's error for a real flow is recorded once, capped in length", async () => {
    const flow = await daemon.orchestrator.requestReauth('sandbox', { reason: 'manual', fresh: true });
    const long = 'x'.repeat(5_000);
    const res = await send(
      `/oauth/callback?error=access_denied&error_description=${long}&state=${encodeURIComponent(flow.state ?? '')}`,
    );
    expect(res.status).toBe(400);
    expect(res.body).toMatch(/access_denied/);
    const [last] = await partsOf(daemon.warden).store.listEvents({ newestFirst: true, limit: 1 });
    expect(last?.type).toBe('paste_rejected');
    expect(last?.message).toMatch(/access_denied/);
    expect(last?.message.length).toBeLessThanOrEqual(500);
    // A used or closed flow's state is refused without a record as well.
    await partsOf(daemon.warden).store.finishFlow(flow.id, 'cancelled', clock.now(), 'test');
    const again = await send(`/oauth/callback?code=c&state=${encodeURIComponent(flow.state ?? '')}`);
    expect(again.status).toBe(400);
    expect(again.body).toMatch(/already used or closed/);
    expect((await partsOf(daemon.warden).store.listEvents({ newestFirst: true, limit: 1 }))[0]?.id).toBe(last?.id);
  });
});

describe('the QR route never answers 500', () => {
  it.each([
    ['2,400 bytes (fits only at low error correction)', 2_400, 200],
    ['3,000 bytes (fits no QR code)', 3_000, 422],
  ])('a link of %s', async (_what, size, status) => {
    const cookie = await signIn();
    const id = `long-${size}`;
    const base = 'https://auth.example/authorize?state=';
    const url = `${base}${'q'.repeat(size - base.length)}`;
    await partsOf(daemon.warden).store.createFlow({
      id,
      connection: 'sandbox',
      kind: 'auth_code',
      state: `state-${id}`,
      codeVerifier: 'v',
      deviceCode: null,
      nonce: null,
      userCode: null,
      url,
      redirectUri: `http://127.0.0.1:${port}/oauth/callback`,
      interval: null,
      reason: 'manual',
      askedVia: [],
      createdAt: clock.now(),
      expiresAt: clock.now() + 600_000,
    });
    const qr = await send(`/flows/${id}/qr.svg`, { headers: { cookie } });
    expect(qr.status).toBe(status);
    if (status === 200) expect(qr.body).toMatch(/^<svg/);
    else expect(qr.body).toMatch(/too long for a QR code/);
    const page = await send('/', { headers: { cookie } });
    expect(page.status).toBe(200);
    expect(page.body.includes(`/flows/${id}/qr.svg`)).toBe(status === 200);
    await partsOf(daemon.warden).store.finishFlow(id, 'cancelled', clock.now(), 'test');
  });
});

describe('the Host header must name this server', () => {
  it.each(['/metrics', '/healthz', '/', '/login', '/api/v1/connections', '/oauth/callback?code=c&state=s'])(
    '%s on a foreign host name (DNS rebinding) is answered 421',
    async (path) => {
      const res = await send(path, {
        host: `rebind.attacker.example:${port}`,
        headers: { authorization: `Bearer ${API_KEY}` },
      });
      expect(res.status).toBe(421);
      expect(res.body).not.toMatch(/tokenwarden_/);
    },
  );

  it.each(['127.0.0.1.attacker.example', 'localhost.attacker.example', '2130706433', 'attacker.example:7465'])(
    'the look-alike host %s is answered 421',
    async (host) => {
      expect((await send('/metrics', { host })).status).toBe(421);
    },
  );

  it.each(['127.0.0.1:PORT', 'localhost', 'LOCALHOST.:PORT', '[::1]', '127.0.0.1', '10.1.2.3:PORT'])(
    '%s is served',
    async (host) => {
      const res = await send('/metrics', { host: host.replace('PORT', String(port)) });
      expect(res.status).toBe(200);
      expect(res.body).toMatch(/tokenwarden_/);
    },
  );
});

describe('event retention', () => {
  it('the daemon prunes events past retention_days and beyond max_rows every hour', async () => {
    const store = partsOf(daemon.warden).store;
    const now = clock.now();
    for (let i = 0; i < 30; i++)
      await store.appendEvent({ type: 'probe_ok', connection: null, message: `old ${i}`, data: null }, now - 8 * DAY);
    for (let i = 0; i < 80; i++)
      await store.appendEvent({ type: 'probe_ok', connection: null, message: `new ${i}`, data: null }, now);
    const newest = (await store.listEvents({ newestFirst: true, limit: 1 }))[0];
    const pruned = new Promise<void>((resolve) => {
      onLog = (l) => {
        if (l.includes('old events pruned')) resolve();
      };
    });
    await clock.advance(3600_000);
    await pruned;
    onLog = null;
    const left = await store.listEvents({ limit: 1000 });
    expect(left).toHaveLength(50);
    expect(left.every((e) => !e.message.startsWith('old'))).toBe(true);
    expect(left.at(-1)?.id).toBe(newest?.id);
  });
});
