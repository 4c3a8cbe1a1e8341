/**
 * API authentication: `Authorization: Bearer <api key>` compared in constant time, with
 * repeated failures from one client address answered 429 (+ Retry-After) for a while.
 * The presented key is never logged or echoed.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import type { Clock } from '../core/clock.js';
import { TokenwardenError } from '../core/errors.js';
import type { ServerContext } from './context.js';
import { RateLimitedError, errorResponse } from './error-status.js';

/** Compare two secrets in constant time: hashing first makes the lengths equal. */
export function secretsEqual(presented: string, expected: string): boolean {
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

export interface FailureLimiterOptions {
  /** Failures allowed within `windowMs` before the address is refused (default 10). */
  maxFailures?: number;
  /** Sliding window and lock-out length (default 60 s). */
  windowMs?: number;
  /** Addresses tracked at most (oldest dropped; bounds memory under a spray). */
  maxTracked?: number;
}

/** Counts failed attempts per client address in a sliding window. */
export class FailureLimiter {
  private readonly failures = new Map<string, number[]>();
  private readonly maxFailures: number;
  private readonly windowMs: number;
  private readonly maxTracked: number;

  constructor(
    private readonly clock: Clock,
    opts: FailureLimiterOptions = {},
  ) {
    this.maxFailures = opts.maxFailures ?? 10;
    this.windowMs = opts.windowMs ?? 60_000;
    this.maxTracked = opts.maxTracked ?? 10_000;
  }

  /** Milliseconds until `client` may try again, or 0 if it may try now. */
  blockedFor(client: string): number {
    if (!this.failures.has(client)) return 0;
    const recent = this.recent(client);
    if (recent.length < this.maxFailures) return 0;
    const oldest = recent[recent.length - this.maxFailures] ?? this.clock.now();
    return Math.max(1, oldest + this.windowMs - this.clock.now());
  }

  fail(client: string): void {
    const recent = this.recent(client);
    recent.push(this.clock.now());
    this.failures.delete(client);
    this.failures.set(client, recent);
    if (this.failures.size > this.maxTracked) {
      const first = this.failures.keys().next().value;
      if (first !== undefined) this.failures.delete(first);
    }
  }

  succeed(client: string): void {
    this.failures.delete(client);
  }

  private recent(client: string): number[] {
    const since = this.clock.now() - this.windowMs;
    const list = (this.failures.get(client) ?? []).filter((t) => t > since);
    if (list.length === 0) this.failures.delete(client);
    return list;
  }
}

/**
 * The client's address as the socket saw it (X-Forwarded-For is not trusted: anyone can
 * send it). Requests with no socket (`app.request()` in tests) count as `local`.
 */
export function clientAddress(c: Context): string {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress ?? 'local';
}

/** Middleware guarding `/api/*`. */
export function apiAuth(ctx: ServerContext, limiter: FailureLimiter): MiddlewareHandler {
  // The expected key's hash, computed once (the key is fixed for the server's life).
  let expected: { key: string; digest: Buffer } | null = null;
  const matches = (presented: string, key: string): boolean => {
    if (expected?.key !== key) expected = { key, digest: createHash('sha256').update(key).digest() };
    return timingSafeEqual(createHash('sha256').update(presented).digest(), expected.digest);
  };
  return async (c, next) => {
    const client = clientAddress(c);
    const wait = limiter.blockedFor(client);
    if (wait > 0) return errorResponse(c, new RateLimitedError(wait));
    if (ctx.apiKey === null)
      return errorResponse(
        c,
        new TokenwardenError(
          'TW_UNAUTHORIZED',
          'The HTTP API is disabled: no API key is configured (server.api_key or server.api_key_file).',
        ),
      );
    const header = c.req.header('authorization') ?? '';
    const m = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
    if (!m?.[1] || !matches(m[1], ctx.apiKey)) {
      limiter.fail(client);
      ctx.logger.warn('API request with a missing or wrong key', {
        client,
        path: c.req.path,
        presented: m ? 'wrong key' : 'none',
      });
      c.header('WWW-Authenticate', 'Bearer realm="tokenwarden"');
      return errorResponse(
        c,
        new TokenwardenError('TW_UNAUTHORIZED', 'Missing or wrong API key: send "Authorization: Bearer <api key>".'),
      );
    }
    limiter.succeed(client);
    await next();
  };
}
