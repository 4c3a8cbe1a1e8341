/**
 * The API proxy's transport over real sockets (`startDaemon`, the built app on 127.0.0.1, a
 * local upstream that accepts only bearers the oidc-provider peer introspects as active):
 * upstream keep-alive sockets reused, an answer streamed to the caller before the upstream has
 * finished it, a request body over the replay size streamed upstream intact (and, on a 401, the
 * token refreshed and 503 "send it again"), the size cap on a chunked upload, the upstream
 * deadline. Then `tokenwarden serve` as a child process behind HTTPS_PROXY (CONNECT tunnel with
 * Proxy-Authorization, TLS to the API) with NO_PROXY sending another API around the proxy.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import { partsOf } from '../../src/warden.js';
import { REPLAY_BYTES } from '../../src/integrations/api-proxy.js';
import { CLI, makeWorkspace, type Workspace } from '../helpers/workspace.js';
import { sandboxConnection } from '../helpers/sandbox.js';
import { bearerOf, listenHttp, readBody, sendJson } from '../peers/http-fake.js';
import { startCountingProxy, type CountingProxy } from '../peers/http-proxy.js';
import { startOidcProvider, type OidcPeer } from '../peers/oidc-provider.js';

const API_KEY = 'stream-test-api-key-0123456789abcdef';
const REDIRECT = 'http://127.0.0.1:1/oauth/callback';
const MAX_REQUEST = 6 * 1024 * 1024;

let oidc: OidcPeer;
let ws: Workspace;
let daemon: Daemon;
let upstream: { url: string; stop(): Promise<void> };
/** Tokens the upstream refuses although the provider still knows them (forces the 401 path). */
const refused = new Set<string>();
const keepSockets = new Set<string>();
const methods: string[] = [];
let uploads = 0;
let release: () => void = () => undefined;
const hanging: ServerResponse[] = [];

async function upstreamHandler(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '').split('?')[0] ?? '';
  const token = bearerOf(req);
  if (path === '/base/bulk/upload') uploads++;
  if (!token || refused.has(token) || !(await oidc.introspect(token)).active) {
    req.resume();
    res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token"' });
    res.end('{"error":"invalid_token"}');
    return;
  }
  if (path === '/base/bulk/keep') {
    methods.push(req.method ?? '');
    keepSockets.add(`${req.socket.remotePort}`);
    sendJson(res, 200, { ok: true });
  } else if (path === '/base/bulk/slow-stream') {
    // 64 KiB now, the rest only once the caller has seen the first part.
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    res.write(Buffer.alloc(64 * 1024, 1));
    await new Promise<void>((r) => (release = r));
    for (let i = 0; i < 64; i++) res.write(Buffer.alloc(64 * 1024, 2));
    res.end();
  } else if (path === '/base/bulk/upload') {
    const body = await readBody(req);
    sendJson(res, 200, {
      length: body.length,
      sha256: createHash('sha256').update(body).digest('hex'),
      declared: req.headers['content-length'] ?? null,
    });
  } else if (path === '/base/bulk/hang') {
    hanging.push(res);
  } else sendJson(res, 404, { path });
}

beforeAll(async () => {
  oidc = await startOidcProvider({ redirectUris: [REDIRECT], accessTokenTtl: 600, refreshTokenTtl: 3600 });
  upstream = await listenHttp(upstreamHandler);
  ws = makeWorkspace({
    server: { listen: '127.0.0.1:0', api_key: API_KEY },
    connections: {
      bulk: sandboxConnection(oidc, REDIRECT, {
        api_base: `${upstream.url}/base/`,
        api_proxy: {
          methods: ['GET', 'HEAD', 'POST'],
          paths: ['/bulk'],
          max_request_bytes: MAX_REQUEST,
          max_response_bytes: 16 * 1024 * 1024,
          timeout: '1s',
        },
      }),
    },
  });
  daemon = await startDaemon({ configPath: ws.configPath, scheduler: { probeIntervalMs: 0 } });
  const flow = await partsOf(daemon.warden).flows.open('bulk', { reason: 'manual' });
  await partsOf(daemon.warden).flows.completeFromInput(await oidc.approveAuthorization(flow.url), { via: 'test' });
});

afterAll(async () => {
  for (const r of hanging) r.destroy();
  await daemon?.close();
  await upstream?.stop();
  await oidc?.stop();
  ws?.cleanup();
});

const proxyUrl = (path: string): string => `${daemon.server.url}/api/v1/connections/bulk/proxy${path}`;
const auth = { authorization: `Bearer ${API_KEY}` };
const currentToken = async (): Promise<string> =>
  (await partsOf(daemon.warden).store.getConnection('bulk'))?.accessToken ?? '';
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** POST a body with node:http, chunked unless `length` is declared; resolves status and JSON. */
function upload(body: Buffer, declare: boolean): Promise<{ status: number; json: Record<string, unknown> }> {
  const u = new URL(proxyUrl('/bulk/upload'));
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: u.hostname,
        port: u.port,
        method: 'POST',
        path: u.pathname,
        // A fresh connection each time: one the server closed after a 413 is not reused.
        agent: false,
        headers: {
          ...auth,
          'content-type': 'application/octet-stream',
          ...(declare ? { 'content-length': String(body.length) } : {}),
        },
      },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) as Record<string, unknown> }),
        );
      },
    );
    // The proxy may answer (413) before all of a too-large body is written.
    req.on('error', reject);
    for (let off = 0; off < body.length; off += 256 * 1024) req.write(body.subarray(off, off + 256 * 1024));
    req.end();
  });
}

describe('API proxy transport', () => {
  it('reuses its upstream keep-alive socket across requests', async () => {
    keepSockets.clear();
    for (let i = 0; i < 5; i++) {
      const res = await fetch(proxyUrl('/bulk/keep'), { headers: auth });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ ok: true });
    }
    expect(keepSockets.size).toBe(1);
  });

  it('HEAD goes upstream as HEAD and is answered with its status and headers, no body', async () => {
    const res = await fetch(proxyUrl('/bulk/keep'), { method: 'HEAD', headers: auth });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    expect(await res.text()).toBe('');
    expect(methods.at(-1)).toBe('HEAD');
  });

  it('streams an answer: the caller reads its start before the upstream has sent the rest', async () => {
    const res = await fetch(proxyUrl('/bulk/slow-stream'), { headers: auth });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let got = 0;
    // The upstream sends the remaining 4 MiB only after this loop has seen the first 64 KiB.
    while (got < 64 * 1024) {
      const { done, value } = await reader.read();
      expect(done).toBe(false);
      got += value!.byteLength;
    }
    release();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      got += value.byteLength;
    }
    expect(got).toBe(65 * 64 * 1024);
  });

  it('streams a body larger than the replay size upstream intact, declared or chunked', async () => {
    const body = Buffer.alloc(REPLAY_BYTES * 3, 0);
    for (let i = 0; i < body.length; i += 4096) body.writeUInt32BE(i, i);
    const declared = await upload(body, true);
    expect(declared.status).toBe(200);
    expect(declared.json).toEqual({ length: body.length, sha256: sha256(body), declared: String(body.length) });
    const chunked = await upload(body, false);
    expect(chunked.status).toBe(200);
    expect(chunked.json).toMatchObject({ length: body.length, sha256: sha256(body), declared: null });
  });

  it('a chunked body past max_request_bytes is refused with 413', async () => {
    const res = await upload(Buffer.alloc(MAX_REQUEST + REPLAY_BYTES, 7), false);
    expect(res.status).toBe(413);
    expect((res.json as { error: { code: string } }).error.code).toBe('TW_TOO_LARGE');
  });

  it('a 401 on a streamed body: the token is refreshed, the caller is told to send again (503), and the next try passes', async () => {
    const old = await currentToken();
    refused.add(old);
    const before = uploads;
    const refreshes = oidc.tokenRequests('refresh_token');
    const body = Buffer.alloc(REPLAY_BYTES * 2, 3);
    const first = await upload(body, true);
    expect(first.status).toBe(503);
    expect((first.json as { error: { message: string } }).error.message).toMatch(/send the request again/);
    expect(oidc.tokenRequests('refresh_token')).toBe(refreshes + 1);
    expect(uploads).toBe(before + 1);
    expect(await currentToken()).not.toBe(old);
    const again = await upload(body, true);
    expect(again.status).toBe(200);
    expect(again.json).toMatchObject({ length: body.length, sha256: sha256(body) });
  });

  it('an upstream that does not answer within api_proxy.timeout: 503 naming the wait', async () => {
    const res = await fetch(proxyUrl('/bulk/hang'), { headers: auth });
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/no answer within 1000 ms/);
  });
});

describe('API proxy behind HTTPS_PROXY (tokenwarden serve as a child process)', () => {
  let dir: string;
  let tls: https.Server;
  let plain: { url: string; stop(): Promise<void> };
  let proxy: CountingProxy;
  let ws2: Workspace;
  let child: ChildProcess;
  let serveUrl: string;
  const seen: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tw-apiproxy-tls-'));
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost']
        .concat(['-addext', 'subjectAltName=DNS:localhost'])
        .concat(['-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')]),
      { stdio: 'ignore' },
    );
    const answer = (tag: string) => (req: IncomingMessage, res: ServerResponse) => {
      seen.push(`${tag} ${req.url} ${req.headers.authorization ?? '-'}`);
      sendJson(res, 200, { tag });
    };
    tls = https.createServer(
      { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) },
      answer('tls'),
    );
    await new Promise<void>((r) => tls.listen(0, '127.0.0.1', r));
    plain = await listenHttp(async (req, res) => answer('plain')(req, res));
    proxy = await startCountingProxy({ credentials: 'proxyuser:p@ss' });
    ws2 = makeWorkspace({
      server: { listen: '127.0.0.1:0', api_key: API_KEY },
      connections: {
        remote: {
          provider: 'oauth2',
          kind: 'static',
          secret: 'static-remote-secret',
          api_base: `https://localhost:${(tls.address() as AddressInfo).port}/`,
          api_proxy: { paths: ['/v1'] },
        },
        local: {
          provider: 'oauth2',
          kind: 'static',
          secret: 'static-local-secret',
          api_base: `${plain.url}/`,
          api_proxy: { paths: ['/v1'] },
        },
      },
    });
    const proxyWithCredentials = proxy.url.replace('http://', 'http://proxyuser:p%40ss@');
    child = spawn(process.execPath, [CLI, '--config', ws2.configPath, 'serve'], {
      cwd: ws2.dir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        HTTPS_PROXY: proxyWithCredentials,
        HTTP_PROXY: proxyWithCredentials,
        NO_PROXY: '127.0.0.1',
        NODE_EXTRA_CA_CERTS: join(dir, 'cert.pem'),
      },
    });
    let err = '';
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    for await (const line of createInterface({ input: child.stdout! })) {
      const m = /serving on (\S+)/.exec(line);
      if (m) {
        serveUrl = m[1] as string;
        break;
      }
    }
    if (!serveUrl) throw new Error(`serve did not start: ${err}`);
  });

  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    await proxy?.stop();
    await plain?.stop();
    await new Promise((r) => tls?.close(r));
    ws2?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('reaches an https API through a CONNECT tunnel with Proxy-Authorization; NO_PROXY goes direct', async () => {
    const tlsPort = (tls.address() as AddressInfo).port;
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${serveUrl}/api/v1/connections/remote/proxy/v1/items`, { headers: auth });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ tag: 'tls' });
    }
    const hits = proxy.hitsTo(tlsPort);
    // One tunnel, kept alive for the second request; the proxy sees only host:port.
    expect(hits.map((h) => [h.kind, h.target, h.authorization])).toEqual([
      ['connect', `localhost:${tlsPort}`, `Basic ${Buffer.from('proxyuser:p@ss').toString('base64')}`],
    ]);
    const local = await fetch(`${serveUrl}/api/v1/connections/local/proxy/v1/items`, { headers: auth });
    expect(await local.json()).toEqual({ tag: 'plain' });
    expect(proxy.hits.filter((h) => !h.target.endsWith(`:${tlsPort}`))).toEqual([]);
    expect(seen).toEqual([
      'tls /v1/items Bearer static-remote-secret',
      'tls /v1/items Bearer static-remote-secret',
      'plain /v1/items Bearer static-local-secret',
    ]);
  });
});
