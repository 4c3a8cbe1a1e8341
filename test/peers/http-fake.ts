/** Small shared pieces of the Gmail and Graph fakes: a node:http server on 127.0.0.1 and JSON helpers. */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { ...(text ? { 'content-type': 'application/json; charset=UTF-8' } : {}), ...headers });
  res.end(text);
}

export function bearerOf(req: IncomingMessage): string | null {
  const h = req.headers.authorization ?? '';
  const m = /^Bearer\s+(.+)$/i.exec(h);
  return m?.[1] ?? null;
}

export async function listenHttp(
  handler: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
): Promise<{ url: string; stop(): Promise<void> }> {
  const server = createServer((req, res) => {
    handler(req, res).catch((e: unknown) => sendJson(res, 500, { error: { code: 500, message: String(e) } }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Parse the header block of a raw RFC 5322 message (unfolded). */
export function parseHeaders(raw: Buffer): Map<string, string> {
  const head = raw.toString('utf8').split(/\r?\n\r?\n/, 1)[0] ?? '';
  const map = new Map<string, string>();
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0) map.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
  }
  return map;
}
