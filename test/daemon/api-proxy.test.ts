/**
 * The daemon's API proxy over real sockets (`startDaemon`, the built app on 127.0.0.1): a local
 * upstream that accepts only bearers the oidc-provider peer introspects as active. Success with
 * the token injected, 401 → one refresh → retry (body replayed), method/path outside the
 * allow-list → 403 with the upstream untouched, traversal (raw, encoded, double-encoded)
 * refused, the caller's Authorization/Cookie/Proxy-* never forwarded, redirects not followed,
 * the token never in a response or log line, size limits, 409 while the grant is dead.
 */
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import { jsonLogger } from '../../src/core/logger.js';
import type { WardenEvent } from '../../src/core/types.js';
import { makeWorkspace, type Workspace } from '../helpers/workspace.js';
import { sandboxConnection } from '../helpers/sandbox.js';
import { bearerOf, listenHttp, readBody } from '../peers/http-fake.js';
import { startOidcProvider, type OidcPeer } from '../peers/oidc-provider.js';
import { partsOf } from '../../src/warden.js';

const API_KEY = 'proxy-test-api-key-0123456789abcdef';
const REDIRECT = 'http://127.0.0.1:1/oauth/callback';
const MSGS = '/gmail/v1/users/me/messages';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

let oidc: OidcPeer;
let ws: Workspace;
let daemon: Daemon;
let upstream: { url: string; stop(): Promise<void> };
let elsewhere: { url: string; stop(): Promise<void> };
const seen: Seen[] = [];
const elsewhereSeen: Seen[] = [];
/** Tokens the upstream refuses although the provider still knows them (forces the 401 path). */
const refused = new Set<string>();
const logs: string[] = [];

async function upstreamHandler(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = (await readBody(req)).toString();
  seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
  const token = bearerOf(req);
  if (!token || refused.has(token) || !(await oidc.introspect(token)).active) {
    res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token"' });
    res.end('{"error":"invalid_token"}');
    return;
  }
  const path = (req.url ?? '').split('?')[0] ?? '';
  if (path === `/base${MSGS}/redirect`) {
    res.writeHead(302, { location: `${elsewhere.url}/steal` });
    res.end();
  } else if (path === `/base${MSGS}/echo`) {
    res.writeHead(200, {
      'content-type': 'text/plain',
      'x-echo': req.headers.authorization ?? '',
      'set-cookie': 'a=b',
    });
    res.end('echoed in a header');
  } else if (path === `/base${MSGS}/gzip`) {
    const z = gzipSync(JSON.stringify({ zipped: 'y'.repeat(3000) }));
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-encoding': 'gzip',
      'content-length': String(z.length),
    });
    res.end(z);
  } else if (path === `/base${MSGS}/big`) {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '5000' });
    res.end('x'.repeat(5000));
  } else if (path === `/base${MSGS}/big-oneshot`) {
    // Too large, without a declared length, in one write: the proxy sees the excess before it
    // has passed on a byte.
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('y'.repeat(10_000));
  } else if (path === `/base${MSGS}/big-chunked`) {
    res.writeHead(200, { 'content-type': 'text/plain' });
    for (let i = 0; i < 10; i++) res.write('y'.repeat(1000));
    res.end();
  } else {
    res.writeHead(200, { 'content-type': 'application/json', connection: 'close, x-hop', 'x-hop': 'secret-hop' });
    res.end(JSON.stringify({ method: req.method, url: req.url, body, messages: [{ id: 'm1' }] }));
  }
}

beforeAll(async () => {
  oidc = await startOidcProvider({ redirectUris: [REDIRECT], accessTokenTtl: 600, refreshTokenTtl: 3600 });
  upstream = await listenHttp(upstreamHandler);
  elsewhere = await listenHttp(async (req, res) => {
    elsewhereSeen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: '' });
    res.writeHead(200);
    res.end('elsewhere');
  });
  ws = makeWorkspace({
    server: { listen: '127.0.0.1:0', api_key: API_KEY },
    connections: {
      sandbox: sandboxConnection(oidc, REDIRECT, {
        api_base: `${upstream.url}/base/`,
        api_proxy: {
          methods: ['GET', 'POST'],
          paths: [MSGS],
          max_request_bytes: 1024,
          max_response_bytes: 4096,
        },
      }),
      plain: { provider: 'oauth2', kind: 'static', secret: 'static-secret-value', api_base: `${upstream.url}/base/` },
    },
  });
  daemon = await startDaemon({
    configPath: ws.configPath,
    scheduler: { probeIntervalMs: 0 },
    logger: jsonLogger('debug', (l) => logs.push(l)),
  });
  const flow = await partsOf(daemon.warden).flows.open('sandbox', { reason: 'manual' });
  await partsOf(daemon.warden).flows.completeFromInput(await oidc.approveAuthorization(flow.url), { via: 'test' });
});

afterAll(async () => {
  await daemon?.close();
  await upstream?.stop();
  await elsewhere?.stop();
  await oidc?.stop();
  ws?.cleanup();
});

const proxyUrl = (path: string): string => `${daemon.server.url}/api/v1/connections/sandbox/proxy${path}`;
const call = (path: string, init: RequestInit = {}): Promise<Response> => {
  const headers = new Headers(init.headers);
  if (!headers.has('authorization')) headers.set('authorization', `Bearer ${API_KEY}`);
  return fetch(proxyUrl(path), { ...init, headers, redirect: 'manual' });
};
const currentToken = async (): Promise<string> =>
  (await partsOf(daemon.warden).store.getConnection('sandbox'))?.accessToken ?? '';

/** A request whose path is sent byte for byte (fetch would normalise `..`). */
function rawGet(path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const u = new URL(daemon.server.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: u.hostname,
        port: u.port,
        method: 'GET',
        path,
        headers: { ...headers, authorization: `Bearer ${API_KEY}` },
      },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('API proxy', () => {
  it('needs the API key; without it the upstream is never called', async () => {
    const before = seen.length;
    const res = await fetch(proxyUrl(MSGS));
    expect(res.status).toBe(401);
    const wrong = await call(MSGS, { headers: { authorization: 'Bearer not-the-key' } });
    expect(wrong.status).toBe(401);
    expect(seen.length).toBe(before);
  });

  it('forwards with the bearer injected; the caller’s Authorization, Cookie and Proxy-* stay behind', async () => {
    const res = await call(`${MSGS}?maxResults=5&q=from%3Ame`, {
      headers: {
        cookie: 'session=caller',
        'proxy-authorization': 'Basic eDp5',
        'x-custom': 'kept',
        accept: 'application/json',
      },
    });
    expect(res.status).toBe(200);
    const text = await res.text();
    const body = JSON.parse(text) as { url: string; messages: unknown[] };
    expect(body.url).toBe(`/base${MSGS}?maxResults=5&q=from%3Ame`);
    const up = seen.at(-1)!;
    const token = await currentToken();
    expect(up.headers.authorization).toBe(`Bearer ${token}`);
    expect(up.headers.cookie).toBeUndefined();
    expect(up.headers['proxy-authorization']).toBeUndefined();
    expect(JSON.stringify(up.headers)).not.toContain(API_KEY);
    expect(up.headers['x-custom']).toBe('kept');
    // Hop-by-hop headers of the upstream (and those its Connection names) are not passed back.
    expect(res.headers.get('x-hop')).toBeNull();
    expect(text).not.toContain(token);
    const values: string[] = [];
    res.headers.forEach((v) => values.push(v));
    expect(values.join('\n')).not.toContain(token);
  });

  it('hop-by-hop request headers, and those the Connection header names, are not forwarded', async () => {
    const r = await rawGet(`/api/v1/connections/sandbox/proxy${MSGS}`, {
      connection: 'keep-alive, x-drop-me',
      'x-drop-me': '1',
      'x-keep-me': '1',
      'keep-alive': 'timeout=5',
      te: 'trailers',
      'x-forwarded-for': '10.0.0.1',
    });
    expect(r.status).toBe(200);
    const up = seen.at(-1)!;
    expect(up.headers['x-keep-me']).toBe('1');
    for (const h of ['x-drop-me', 'keep-alive', 'te', 'x-forwarded-for']) expect(up.headers[h], h).toBeUndefined();
  });

  it('a 401 from the API: one refresh, the same request (body included) again with the new token', async () => {
    const old = await currentToken();
    refused.add(old);
    const refreshes = oidc.tokenRequests('refresh_token');
    const before = seen.length;
    const res = await call(MSGS, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"raw":"abc"}',
    });
    expect(res.status).toBe(200);
    expect(oidc.tokenRequests('refresh_token')).toBe(refreshes + 1);
    const fresh = await currentToken();
    expect(fresh).not.toBe(old);
    const calls = seen.slice(before);
    expect(calls.map((c) => c.headers.authorization)).toEqual([`Bearer ${old}`, `Bearer ${fresh}`]);
    expect(calls.map((c) => c.body)).toEqual(['{"raw":"abc"}', '{"raw":"abc"}']);
    expect(calls[1]?.headers['content-type']).toBe('application/json');
  });

  it('a method or path outside the allow-list is refused with 403 and the API is not called', async () => {
    const before = seen.length;
    for (const [path, method] of [
      [MSGS, 'DELETE'],
      [MSGS, 'PUT'],
      ['/gmail/v1/users/me/settings', 'GET'],
      [`${MSGS}X`, 'GET'],
      ['/', 'GET'],
    ] as const) {
      const res = await call(path, { method });
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('TW_FORBIDDEN');
    }
    expect(seen.length).toBe(before);
  });

  it('path traversal cannot leave the allow-list (raw .., encoded, double-encoded, encoded slashes)', async () => {
    const before = seen.length;
    for (const p of [
      `${MSGS}/../../settings`,
      `${MSGS}/%2e%2e/%2e%2e/settings`,
      `${MSGS}/%2E%2E/settings`,
      `${MSGS}/..%2f..%2fsettings`,
      `${MSGS}/%252e%252e/%252e%252e/settings`,
      `${MSGS}/..%5c..%5csettings`,
      `${MSGS}//settings`,
      `${MSGS}/%00`,
    ]) {
      const r = await rawGet(`/api/v1/connections/sandbox/proxy${p}`);
      expect(r.status, p).toBe(403);
    }
    expect(seen.length).toBe(before);
  });

  it('redirects are passed back, never followed: no other origin sees the token', async () => {
    const res = await call(`${MSGS}/redirect`);
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe(`${elsewhere.url}/steal`);
    expect(elsewhereSeen).toEqual([]);
  });

  it('an upstream echoing the token or setting cookies: those headers are dropped', async () => {
    const res = await call(`${MSGS}/echo`);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-echo')).toBeNull();
    expect(res.headers.get('set-cookie')).toBeNull();
    expect(await res.text()).toBe('echoed in a header');
  });

  it('a compressed answer arrives decoded, without a stale Content-Encoding or Content-Length', async () => {
    const res = await call(`${MSGS}/gzip`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-encoding')).toBeNull();
    const body = (await res.json()) as { zipped: string };
    expect(body.zipped).toHaveLength(3000);
  });

  it('size limits: a large request body is 413 before the API is called; a large answer is cut off', async () => {
    const before = seen.length;
    const big = await call(MSGS, { method: 'POST', body: 'z'.repeat(2000) });
    expect(big.status).toBe(413);
    expect(((await big.json()) as { error: { code: string } }).error.code).toBe('TW_TOO_LARGE');
    expect(seen.length).toBe(before);
    const declared = await call(`${MSGS}/big`);
    expect(declared.status).toBe(502);
    expect(((await declared.json()) as { error: { message: string } }).error.message).toMatch(/more than 4096 bytes/);
    const chunked = await call(`${MSGS}/big-chunked`);
    const got = await chunked.text().then(
      (t) => t.length,
      () => -1,
    );
    expect(got).toBeLessThan(5000);
    const oneshot = await call(`${MSGS}/big-oneshot`);
    expect(oneshot.status).toBe(502);
    expect(((await oneshot.json()) as { error: { message: string } }).error.message).toMatch(
      /cut off past 4096 bytes \(api_proxy\.max_response_bytes\)/,
    );
  });

  it('a connection without api_proxy, or unknown: 403 / 404', async () => {
    const off = await fetch(`${daemon.server.url}/api/v1/connections/plain/proxy${MSGS}`, {
      headers: { authorization: `Bearer ${API_KEY}` },
    });
    expect(off.status).toBe(403);
    expect(((await off.json()) as { error: { message: string } }).error.message).toMatch(/api_proxy/);
    const unknown = await fetch(`${daemon.server.url}/api/v1/connections/nope/proxy${MSGS}`, {
      headers: { authorization: `Bearer ${API_KEY}` },
    });
    expect(unknown.status).toBe(404);
  });

  it('no log line carries a token', async () => {
    const token = await currentToken();
    expect(logs.some((l) => l.includes('api proxy'))).toBe(true);
    expect(logs.join('\n')).not.toContain(token);
    expect(logs.join('\n')).not.toContain(API_KEY);
  });

  it('a dead grant: 409 with the same body as the token route, the API not called', async () => {
    const asked = new Promise<void>((resolve) => {
      const on = (e: WardenEvent): void => {
        if (e.type === 'reauth_requested' && e.connection === 'sandbox') {
          daemon.warden.events.off('event', on);
          resolve();
        }
      };
      daemon.warden.events.on('event', on);
    });
    await oidc.revokeGrantsFor();
    await expect(partsOf(daemon.warden).keeper.forceRefresh('sandbox')).rejects.toMatchObject({
      code: 'TW_REAUTH_REQUIRED',
    });
    await asked;
    const before = seen.length;
    const res = await call(MSGS);
    expect(res.status).toBe(409);
    const body = (await res.json()) as { error: { code: string; cause: { fix: string }; reauth: { url: string } } };
    expect(body.error.code).toBe('TW_REAUTH_REQUIRED');
    expect(body.error.cause.fix).toBeTruthy();
    expect(body.error.reauth.url).toContain(oidc.issuer);
    const tokenRoute = await fetch(`${daemon.server.url}/api/v1/connections/sandbox/token`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}` },
    });
    expect(tokenRoute.status).toBe(409);
    expect(await tokenRoute.json()).toEqual(body);
    expect(seen.length).toBe(before);
  });
});
