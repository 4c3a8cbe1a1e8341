/**
 * A tiny scripted HTTP server standing in for a provider that cannot run here (Google, GitHub,
 * Microsoft): each route answers exactly as the provider's documentation shows, and every
 * request is recorded (method, path, headers, form/JSON body).
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Recorded {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
  form: URLSearchParams;
}

export interface Answer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

export type Route = (req: Recorded) => Answer | Promise<Answer>;

export interface FakeHttp {
  url: string;
  requests: Recorded[];
  route(method: string, path: string, handler: Route): void;
  stop(): Promise<void>;
}

export async function startFakeHttp(): Promise<FakeHttp> {
  const routes = new Map<string, Route>();
  const requests: Recorded[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const url = new URL(req.url ?? '/', 'http://x');
      const rec: Recorded = {
        method: req.method ?? 'GET',
        path: url.pathname,
        headers: req.headers,
        body,
        form: new URLSearchParams(body),
      };
      requests.push(rec);
      const handler = routes.get(`${rec.method} ${rec.path}`);
      void Promise.resolve(handler ? handler(rec) : { status: 404, body: { error: 'not_found' } }).then((a) => {
        res.writeHead(a.status, { 'content-type': 'application/json', ...a.headers });
        res.end(typeof a.body === 'string' ? a.body : JSON.stringify(a.body));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    route: (method, path, handler) => routes.set(`${method} ${path}`, handler),
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Answers in order; the last one repeats. */
export function sequence(...answers: Answer[]): Route {
  let i = 0;
  return () => answers[Math.min(i++, answers.length - 1)] as Answer;
}
