/**
 * The provider HTTP client behind a forward proxy: https through a CONNECT tunnel (TLS end to
 * end, tunnels kept alive), http in absolute-URI form, Proxy-Authorization from the proxy URL,
 * NO_PROXY bypass, and a clear failure when the proxy refuses.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpFetch } from '../../src/oauth/http-client.js';
import { startCountingProxy, type CountingProxy } from '../peers/http-proxy.js';

let dir: string;
let cert: string;
let tlsServer: https.Server;
let tlsPort: number;
let plain: http.Server;
let plainPort: number;
let proxy: CountingProxy;
let authProxy: CountingProxy;
const seen: string[] = [];

function answer(tag: string) {
  return (req: http.IncomingMessage, res: http.ServerResponse): void => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push(
        `${tag} ${req.method} ${req.url} host=${req.headers.host} proxy-auth=${req.headers['proxy-authorization'] ?? '-'}`,
      );
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ tag, body }));
    });
  };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tw-proxy-tls-'));
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost']
      .concat(['-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'])
      .concat(['-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')]),
    { stdio: 'ignore' },
  );
  cert = readFileSync(join(dir, 'cert.pem'), 'utf8');
  tlsServer = https.createServer({ key: readFileSync(join(dir, 'key.pem')), cert }, answer('tls'));
  await new Promise<void>((r) => tlsServer.listen(0, '127.0.0.1', r));
  tlsPort = (tlsServer.address() as AddressInfo).port;
  plain = http.createServer(answer('plain'));
  await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
  plainPort = (plain.address() as AddressInfo).port;
  proxy = await startCountingProxy();
  authProxy = await startCountingProxy({ credentials: 'proxyuser:p@ss word' });
});

afterAll(async () => {
  await proxy?.stop();
  await authProxy?.stop();
  await new Promise((r) => tlsServer?.close(r));
  await new Promise((r) => plain?.close(r));
  rmSync(dir, { recursive: true, force: true });
});

describe('provider HTTP client through HTTPS_PROXY / HTTP_PROXY', () => {
  it('tunnels https with CONNECT (TLS to the provider, tunnel reused) and never shows the proxy the path', async () => {
    const f = createHttpFetch({ env: { HTTPS_PROXY: proxy.url }, ca: cert });
    const before = proxy.hitsTo(tlsPort).length;
    const r1 = await f(`https://localhost:${tlsPort}/token`, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'refresh_token' }),
    });
    expect(await r1.json()).toEqual({ tag: 'tls', body: 'grant_type=refresh_token' });
    const r2 = await f(`https://localhost:${tlsPort}/again`);
    expect(((await r2.json()) as { tag: string }).tag).toBe('tls');
    const hits = proxy.hitsTo(tlsPort).slice(before);
    // One tunnel for both requests (keep-alive through the tunnel); only host:port is visible.
    expect(hits).toEqual([{ kind: 'connect', target: `localhost:${tlsPort}`, method: 'CONNECT' }]);
    f.close();
  });

  it('verifies the provider certificate inside the tunnel', async () => {
    const f = createHttpFetch({ env: { HTTPS_PROXY: proxy.url } }); // Node's default CAs only
    const err = (await f(`https://localhost:${tlsPort}/token`).catch((e: unknown) => e)) as TypeError;
    expect(err).toBeInstanceOf(TypeError);
    expect(String((err.cause as Error).message)).toMatch(/self[- ]signed|certificate/i);
    f.close();
  });

  it('sends http to the proxy in absolute-URI form with the original Host', async () => {
    const f = createHttpFetch({ env: { http_proxy: proxy.url } });
    const before = proxy.hitsTo(plainPort).length;
    const res = await f(`http://127.0.0.1:${plainPort}/device?x=1`, { method: 'POST', body: 'a=b' });
    expect(await res.json()).toEqual({ tag: 'plain', body: 'a=b' });
    expect(proxy.hitsTo(plainPort).slice(before)).toEqual([
      { kind: 'forward', target: `127.0.0.1:${plainPort}`, method: 'POST', path: '/device?x=1' },
    ]);
    expect(seen.at(-1)).toBe(`plain POST /device?x=1 host=127.0.0.1:${plainPort} proxy-auth=-`);
    f.close();
  });

  it('sends Proxy-Authorization from the proxy URL (percent-decoded) on CONNECT and forwarded requests', async () => {
    const proxyUrl = `http://proxyuser:p%40ss%20word@127.0.0.1:${authProxy.port}`;
    const f = createHttpFetch({ env: { HTTPS_PROXY: proxyUrl, HTTP_PROXY: proxyUrl }, ca: cert });
    expect((await f(`https://localhost:${tlsPort}/a`)).status).toBe(200);
    expect((await f(`http://127.0.0.1:${plainPort}/b`)).status).toBe(200);
    const expected = `Basic ${Buffer.from('proxyuser:p@ss word').toString('base64')}`;
    expect(authProxy.hits.map((h) => [h.kind, h.authorization])).toEqual([
      ['connect', expected],
      ['forward', expected],
    ]);
    // The proxy's credentials are for the proxy: the origin never sees them.
    expect(seen.at(-1)).toMatch(/proxy-auth=-$/);
    f.close();
  });

  it('fails clearly when the proxy refuses the tunnel, without echoing credentials', async () => {
    const f = createHttpFetch({ env: { HTTPS_PROXY: `http://wrong:secret-pw@127.0.0.1:${authProxy.port}` }, ca: cert });
    const err = (await f(`https://localhost:${tlsPort}/a`).catch((e: unknown) => e)) as TypeError;
    expect(err.message).toBe('fetch failed');
    const cause = String((err.cause as Error).message);
    expect(cause).toBe(`proxy 127.0.0.1:${authProxy.port} answered 407 to CONNECT localhost:${tlsPort}`);
    expect(cause).not.toContain('secret-pw');
    f.close();
  });

  it('connects directly to hosts NO_PROXY names (domain suffix, IP, or *)', async () => {
    for (const noProxy of ['localhost,127.0.0.1', '.localhost, 127.0.0.0/8', '*']) {
      const f = createHttpFetch({
        env: { HTTPS_PROXY: proxy.url, HTTP_PROXY: proxy.url, NO_PROXY: noProxy },
        ca: cert,
      });
      const before = proxy.hits.length;
      expect((await f(`https://localhost:${tlsPort}/direct`)).status).toBe(200);
      expect((await f(`http://127.0.0.1:${plainPort}/direct`)).status).toBe(200);
      expect(proxy.hits.length, noProxy).toBe(before);
      f.close();
    }
  });

  it('requests it hands to the global fetch (here: redirect "follow") use the same proxy', async () => {
    const f = createHttpFetch({ env: { HTTP_PROXY: proxy.url } });
    const before = proxy.hitsTo(plainPort).length;
    const res = await f(`http://127.0.0.1:${plainPort}/followed`, { redirect: 'follow' });
    expect(((await res.json()) as { tag: string }).tag).toBe('plain');
    expect(proxy.hitsTo(plainPort).slice(before)).toEqual([
      { kind: 'connect', target: `127.0.0.1:${plainPort}`, method: 'CONNECT' },
    ]);
    f.close();
  });

  it('rejects an unusable proxy variable with an error naming the variable, not its value', async () => {
    const f = createHttpFetch({ env: { HTTPS_PROXY: 'socks5://user:hunter2@127.0.0.1:1080' } });
    const err = (await f(`https://localhost:${tlsPort}/a`).catch((e: unknown) => e)) as Error;
    expect(err.message).toBe('HTTPS_PROXY: only http:// proxies are supported, not socks5://');
    expect(err.message).not.toContain('hunter2');
    f.close();
  });
});
