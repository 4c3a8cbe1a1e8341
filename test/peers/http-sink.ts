/**
 * A tiny HTTP receiver for one-way channel tests: records every request (method, path,
 * headers, raw body) and answers with a chosen status, or never answers (to test timeouts).
 */
import { EventEmitter, once } from 'node:events';
import http, { type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SinkRequest {
  method: string;
  /** Path and query, e.g. `/topic?x=1`. */
  path: string;
  headers: IncomingHttpHeaders;
  /** The raw body exactly as received (signatures are computed over it). */
  body: string;
  json<T = unknown>(): T;
}

export interface HttpSink {
  /** Base URL, e.g. `http://127.0.0.1:34567`. */
  url: string;
  readonly requests: readonly SinkRequest[];
  /** Status for the following requests (default 200). */
  setStatus(status: number, body?: string, headers?: Record<string, string>): void;
  /** Accept requests but never answer them (until stop). */
  setHang(hang: boolean): void;
  /** Resolves with the first request (already received or future) matching the predicate. */
  waitForRequest(predicate?: (r: SinkRequest) => boolean, timeoutMs?: number): Promise<SinkRequest>;
  stop(): Promise<void>;
}

export async function startHttpSink(opts: { status?: number } = {}): Promise<HttpSink> {
  const requests: SinkRequest[] = [];
  const events = new EventEmitter();
  let status = opts.status ?? 200;
  let responseBody = '';
  let responseHeaders: Record<string, string> = {};
  let hang = false;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const r: SinkRequest = {
        method: req.method ?? '',
        path: req.url ?? '/',
        headers: req.headers,
        body,
        json: <T>() => JSON.parse(body) as T,
      };
      requests.push(r);
      events.emit('request', r);
      if (hang) return;
      res.writeHead(status, { 'content-type': 'text/plain', ...responseHeaders });
      res.end(responseBody);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    setStatus(s, body = '', headers = {}) {
      status = s;
      responseBody = body;
      responseHeaders = headers;
    },
    setHang(h) {
      hang = h;
    },
    waitForRequest(predicate = () => true, timeoutMs = 5000) {
      const found = requests.find(predicate);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          events.off('request', on);
          reject(new Error(`http sink: no matching request within ${timeoutMs} ms`));
        }, timeoutMs);
        const on = (r: SinkRequest): void => {
          if (!predicate(r)) return;
          clearTimeout(timer);
          events.off('request', on);
          resolve(r);
        };
        events.on('request', on);
      });
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      events.removeAllListeners();
    },
  };
}
