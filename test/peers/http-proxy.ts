/**
 * A forward HTTP proxy on 127.0.0.1 that records what passes through it, as a corporate proxy
 * would see it: `CONNECT host:port` tunnels (https, or http through undici's ProxyAgent) and
 * absolute-URI requests (`GET http://host:port/path`) that it forwards itself. Optionally demands
 * `Proxy-Authorization: Basic` (answers 407 otherwise). Only loopback targets are served.
 */
import http from 'node:http';
import net, { type AddressInfo, type Socket } from 'node:net';

export interface ProxyHit {
  kind: 'connect' | 'forward';
  /** `host:port` of the target. */
  target: string;
  method: string;
  /** Path and query of a forwarded request (a tunnel's content is not visible). */
  path?: string;
  /** The Proxy-Authorization header received, if any. */
  authorization?: string;
}

export interface CountingProxy {
  /** `http://127.0.0.1:PORT` */
  url: string;
  port: number;
  readonly hits: readonly ProxyHit[];
  /** Hits whose target port is `port`. */
  hitsTo(port: number): ProxyHit[];
  stop(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

export async function startCountingProxy(opts: { credentials?: string } = {}): Promise<CountingProxy> {
  const hits: ProxyHit[] = [];
  const sockets = new Set<Socket>();
  const expected = opts.credentials ? `Basic ${Buffer.from(opts.credentials).toString('base64')}` : undefined;
  const authorized = (h: string | undefined): boolean => expected === undefined || h === expected;

  const server = http.createServer((req, res) => {
    let target: URL;
    try {
      target = new URL(req.url ?? '');
    } catch {
      res.writeHead(400).end('absolute URI required');
      return;
    }
    const auth = req.headers['proxy-authorization'];
    hits.push({
      kind: 'forward',
      target: target.host,
      method: req.method ?? '',
      path: `${target.pathname}${target.search}`,
      ...(auth ? { authorization: auth } : {}),
    });
    if (!authorized(auth)) {
      res.writeHead(407, { 'proxy-authenticate': 'Basic realm="test"' }).end();
      return;
    }
    if (target.protocol !== 'http:' || !LOOPBACK.has(target.hostname)) {
      res.writeHead(403).end('only loopback http targets');
      return;
    }
    const headers = { ...req.headers };
    delete headers['proxy-authorization'];
    delete headers['proxy-connection'];
    const upstream = http.request(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: `${target.pathname}${target.search}`,
        headers,
      },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(upstream);
  });

  server.on('connect', (req: http.IncomingMessage, client: Socket, head: Buffer) => {
    const target = req.url ?? '';
    const auth = req.headers['proxy-authorization'];
    hits.push({ kind: 'connect', target, method: 'CONNECT', ...(auth ? { authorization: auth } : {}) });
    client.on('error', () => client.destroy());
    if (!authorized(auth)) {
      client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="test"\r\n\r\n');
      return;
    }
    const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(target);
    if (!m || !LOOPBACK.has(m[1] as string)) {
      client.end('HTTP/1.1 403 Forbidden\r\n\r\n');
      return;
    }
    const upstream = net.connect(Number(m[2]), (m[1] as string).replace(/^\[|\]$/g, ''), () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    hits,
    hitsTo: (p) => hits.filter((h) => h.target.endsWith(`:${p}`)),
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
