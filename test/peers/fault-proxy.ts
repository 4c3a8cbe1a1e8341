/**
 * An HTTP reverse proxy on 127.0.0.1 that injects faults between tokenwarden and a real
 * peer (usually oidc-provider): the failures a provider or the network produces in the wild.
 *
 * - `pass`            forward unchanged
 * - `http500/503/429` answer that status with a JSON body (`Retry-After` when asked)
 * - `timeout`         accept the request and never answer (until `stop()` or the client aborts)
 * - `reset`           destroy the socket without a response
 * - `html`            200 with an HTML page (a captive portal, a proxy's error page)
 * - `malformed_json`  200 with `application/json` that does not parse
 * - `slow`            forward after `delayMs`
 */
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type FaultMode =
  'pass' | 'http500' | 'http503' | 'http429' | 'timeout' | 'reset' | 'html' | 'malformed_json' | 'slow';

export interface FaultOptions {
  /** Seconds for `Retry-After` on 429/503. */
  retryAfterSeconds?: number;
  /** Raw `Retry-After` header value (e.g. an HTTP-date); wins over retryAfterSeconds. */
  retryAfter?: string;
  /** Delay for `slow` (default 200 ms). */
  delayMs?: number;
}

export interface FaultProxy {
  /** `http://127.0.0.1:PORT` — the same paths as the target. */
  url: string;
  setMode(mode: FaultMode, opts?: FaultOptions): void;
  /** Requests received so far (all modes). */
  readonly requests: number;
  stop(): Promise<void>;
}

/** Start a proxy to `target` (an origin such as `http://127.0.0.1:4000`), in `pass` mode. */
export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const upstream = new URL(target);
  let mode: FaultMode = 'pass';
  let options: FaultOptions = {};
  let requests = 0;
  const hanging = new Set<ServerResponse>();

  const forward = (req: IncomingMessage, res: ServerResponse): void => {
    const up = httpRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: upstream.host },
      },
      (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  };

  const server = createServer((req, res) => {
    requests++;
    const retryAfter =
      options.retryAfter ?? (options.retryAfterSeconds === undefined ? undefined : String(options.retryAfterSeconds));
    const json = (status: number, body: string, extra: Record<string, string> = {}): void => {
      req.resume();
      res.writeHead(status, { 'content-type': 'application/json', ...extra });
      res.end(body);
    };
    switch (mode) {
      case 'pass':
        forward(req, res);
        return;
      case 'slow':
        setTimeout(() => forward(req, res), options.delayMs ?? 200);
        return;
      case 'http500':
        json(500, '{"error":"server_error","error_description":"injected 500"}');
        return;
      case 'http503':
        json(503, '{"error":"temporarily_unavailable"}', retryAfter ? { 'retry-after': retryAfter } : {});
        return;
      case 'http429':
        json(429, '{"error":"rate_limited"}', retryAfter ? { 'retry-after': retryAfter } : {});
        return;
      case 'timeout':
        req.resume();
        hanging.add(res);
        res.on('close', () => hanging.delete(res));
        return;
      case 'reset':
        req.socket.destroy();
        return;
      case 'html':
        req.resume();
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end('<!DOCTYPE html><html><body><h1>Please log in to the hotel Wi-Fi</h1></body></html>');
        return;
      case 'malformed_json':
        json(200, '{"access_token": "trunc');
        return;
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}`,
    setMode(m, o = {}) {
      mode = m;
      options = o;
    },
    get requests() {
      return requests;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const res of hanging) res.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
