/**
 * A tiny, fast OAuth 2.0 token endpoint on 127.0.0.1 for scale benchmarks: it answers
 * `grant_type=refresh_token` at once, with rotation (RFC 6749 §6; RFC 9700 §4.14.2), and
 * nothing else. It keeps one integer per connection, so 100,000 connections cost a few MB.
 *
 * Token formats carry the facts a benchmark needs to check independently of tokenwarden:
 * - refresh token `rt.<conn>.<generation>`; only the newest generation is honoured, a reused
 *   one gets `invalid_grant` (counted in `reused`), like a real rotating provider;
 * - access token `at.<conn>.<generation>.<expiresAtMs>`, where the expiry is computed from the
 *   simulated time in the `x-sim-now` request header (or the real clock), so a caller can tell
 *   from the token alone whether it was served after its expiry.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FastTokenEndpointOptions {
  /** Access-token lifetime in seconds (default 3600). */
  accessTtlSeconds?: number;
  /** Issue a new refresh token on every use (default true). */
  rotate?: boolean;
}

export interface FastTokenStats {
  refreshes: number;
  /** Refresh requests with a superseded (already rotated) refresh token. */
  reused: number;
  /** Requests that were not a well-formed refresh grant. */
  malformed: number;
}

export interface FastTokenEndpoint {
  /** `http://127.0.0.1:PORT/token` */
  tokenUrl: string;
  /** `http://127.0.0.1:PORT/authorize` (never served; oauth2 configs need one). */
  authUrl: string;
  stats(): FastTokenStats;
  /** Current refresh-token generation of a connection (0 before its first refresh). */
  generation(conn: string): number;
  /** Every connection's current generation (connections never refreshed are absent: 0). */
  generations(): Record<string, number>;
  stop(): Promise<void>;
}

/** Parse `at.<conn>.<gen>.<expiresAtMs>` → expiresAt, or null if it is not one of ours. */
export function accessTokenExpiry(token: string): number | null {
  const m = /^at\.[^.]+\.\d+\.(\d+)$/.exec(token);
  return m ? Number(m[1]) : null;
}

/** The seeded refresh token of generation 0 (what a benchmark writes into the store). */
export function initialRefreshToken(conn: string): string {
  return `rt.${conn}.0`;
}

export async function startFastTokenEndpoint(opts: FastTokenEndpointOptions = {}): Promise<FastTokenEndpoint> {
  const ttl = opts.accessTtlSeconds ?? 3600;
  const rotate = opts.rotate ?? true;
  const generations = new Map<string, number>();
  const stats: FastTokenStats = { refreshes: 0, reused: 0, malformed: 0 };

  const answer = (res: ServerResponse, status: number, body: object): void => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json',
      'cache-control': 'no-store',
      'content-length': Buffer.byteLength(text),
    });
    res.end(text);
  };

  const handle = (req: IncomingMessage, body: string, res: ServerResponse): void => {
    const form = new URLSearchParams(body);
    const rt = form.get('refresh_token');
    const m = rt ? /^rt\.([^.]+)\.(\d+)$/.exec(rt) : null;
    if (req.method !== 'POST' || form.get('grant_type') !== 'refresh_token' || !m) {
      stats.malformed++;
      answer(res, 400, {
        error: 'invalid_request',
        error_description: 'only well-formed refresh_token grants are served',
      });
      return;
    }
    const conn = m[1] as string;
    const gen = Number(m[2]);
    const current = generations.get(conn) ?? 0;
    if (gen !== current) {
      stats.reused++;
      answer(res, 400, { error: 'invalid_grant', error_description: 'refresh token already used' });
      return;
    }
    stats.refreshes++;
    const next = rotate ? current + 1 : current;
    generations.set(conn, next);
    const simNow = Number(req.headers['x-sim-now']);
    const now = Number.isFinite(simNow) && simNow > 0 ? simNow : Date.now();
    answer(res, 200, {
      access_token: `at.${conn}.${next}.${now + ttl * 1000}`,
      token_type: 'Bearer',
      expires_in: ttl,
      ...(rotate ? { refresh_token: `rt.${conn}.${next}` } : {}),
    });
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handle(req, Buffer.concat(chunks).toString('utf8'), res));
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    tokenUrl: `http://127.0.0.1:${port}/token`,
    authUrl: `http://127.0.0.1:${port}/authorize`,
    stats: () => ({ ...stats }),
    generation: (conn) => generations.get(conn) ?? 0,
    generations: () => Object.fromEntries(generations),
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
