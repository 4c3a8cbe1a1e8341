/**
 * src/oauth/http-client.ts, the node:http `fetch` for provider requests, against real servers on
 * 127.0.0.1: what openid-client relies on (form body, headers, status, standard Response), the
 * errors fetch would give, and what it adds (size limit, retry on a stale keep-alive socket).
 */
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpFetch, type HttpFetch } from '../../src/oauth/http-client.js';

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (closers.length) await closers.pop()?.();
});

async function httpServer(handler: (req: IncomingMessage, body: string, res: ServerResponse) => void) {
  const server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handler(req, Buffer.concat(chunks).toString('utf8'), res));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(
    () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function client(opts?: Parameters<typeof createHttpFetch>[0]): HttpFetch {
  const f = createHttpFetch(opts);
  closers.push(async () => f.close());
  return f;
}

describe('provider http client', () => {
  it('sends a form POST with its headers and returns a standard Response', async () => {
    let seen: { method?: string | undefined; headers?: IncomingMessage['headers']; body?: string } = {};
    const base = await httpServer((req, body, res) => {
      seen = { method: req.method, headers: req.headers, body };
      res.writeHead(400, 'Bad Request', { 'content-type': 'application/json', 'x-extra': 'a' });
      res.end('{"error":"invalid_grant"}');
    });
    const res = await client()(`${base}/token`, {
      method: 'POST',
      headers: { Authorization: 'Basic abc', 'x-sim': '1' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'rt-1' }),
      redirect: 'manual',
    });
    expect(seen.method).toBe('POST');
    expect(seen.body).toBe('grant_type=refresh_token&refresh_token=rt-1');
    expect(seen.headers?.['content-type']).toBe('application/x-www-form-urlencoded;charset=UTF-8');
    expect(seen.headers?.['content-length']).toBe(String(seen.body?.length));
    expect(seen.headers?.['authorization']).toBe('Basic abc');
    expect(seen.headers?.['x-sim']).toBe('1');
    expect(res).toBeInstanceOf(Response);
    expect(res.status).toBe(400);
    expect(res.statusText).toBe('Bad Request');
    expect(res.headers.get('x-extra')).toBe('a');
    expect(await res.json()).toEqual({ error: 'invalid_grant' });
  });

  it('decodes a compressed answer and drops the encoding headers', async () => {
    const base = await httpServer((_req, _body, res) => {
      const gz = gzipSync('{"access_token":"at"}');
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-encoding': 'gzip',
        'content-length': gz.length,
      });
      res.end(gz);
    });
    const res = await client()(`${base}/token`, { method: 'POST', body: 'x=1', redirect: 'manual' });
    expect(res.headers.get('content-encoding')).toBeNull();
    expect(await res.json()).toEqual({ access_token: 'at' });
  });

  it('refuses an answer larger than the limit with a message saying so', async () => {
    const base = await httpServer((_req, _body, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('x'.repeat(5000));
    });
    const err = (await client({ maxResponseBytes: 1000 })(`${base}/token`, { redirect: 'manual' }).catch(
      (e: unknown) => e,
    )) as TypeError;
    expect(err).toBeInstanceOf(TypeError);
    expect(err.message).toBe('fetch failed');
    expect((err.cause as Error).message).toMatch(/larger than 1000 bytes/);
  });

  it('rejects like fetch: a refused connection is TypeError("fetch failed") with the errno code', async () => {
    const net = createNetServer();
    await new Promise<void>((r) => net.listen(0, '127.0.0.1', r));
    const port = (net.address() as AddressInfo).port;
    await new Promise<void>((r) => net.close(() => r()));
    const err = (await client()(`http://127.0.0.1:${port}/token`, { redirect: 'manual' }).catch(
      (e: unknown) => e,
    )) as TypeError;
    expect(err).toBeInstanceOf(TypeError);
    expect(err.message).toBe('fetch failed');
    expect((err.cause as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
  });

  it('an aborted signal rejects with its reason and drops the request', async () => {
    let arrived!: () => void;
    const requestArrived = new Promise<void>((r) => (arrived = r));
    const base = await httpServer(() => arrived()); // never answers
    const ac = new AbortController();
    const pending = client()(`${base}/token`, { method: 'POST', body: 'a=1', signal: ac.signal, redirect: 'manual' });
    await requestArrived;
    const reason = new DOMException('gave up', 'TimeoutError');
    ac.abort(reason);
    await expect(pending).rejects.toBe(reason);
    const pre = new AbortController();
    pre.abort(new DOMException('before', 'AbortError'));
    await expect(client()(`${base}/token`, { signal: pre.signal, redirect: 'manual' })).rejects.toMatchObject({
      name: 'AbortError',
    });
  });

  it('sends a request once more when the server had closed the reused keep-alive socket', async () => {
    // A raw server: answers the first request on a socket with keep-alive, and closes the socket
    // without a word when a second request arrives on it (an idle timeout racing the reuse).
    const sockets: Socket[] = [];
    let answered = 0;
    const server: NetServer = createNetServer((socket) => {
      sockets.push(socket);
      let requestsOnSocket = 0;
      let buf = '';
      socket.on('data', (d: Buffer) => {
        buf += d.toString('latin1');
        while (buf.includes('\r\n\r\n')) {
          const end = buf.indexOf('\r\n\r\n') + 4;
          const len = Number(/content-length: (\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0);
          if (buf.length < end + len) return;
          buf = buf.slice(end + len);
          requestsOnSocket++;
          if (requestsOnSocket > 1) {
            socket.destroy();
            return;
          }
          answered++;
          const body = `{"n":${answered}}`;
          socket.write(
            `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: keep-alive\r\n\r\n${body}`,
          );
        }
      });
      socket.on('error', () => undefined);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    closers.push(
      () =>
        new Promise((r) => {
          for (const s of sockets) s.destroy();
          server.close(() => r());
        }),
    );
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
    const f = client();
    expect(await (await f(url, { method: 'POST', body: 'a=1', redirect: 'manual' })).json()).toEqual({ n: 1 });
    expect(await (await f(url, { method: 'POST', body: 'a=2', redirect: 'manual' })).json()).toEqual({ n: 2 });
    expect(sockets).toHaveLength(2);
  });
});
