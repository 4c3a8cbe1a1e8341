/**
 * API authentication: `Authorization: Bearer <api key>` compared in constant time. The key is
 * checked first: a correct key always passes, whatever anyone else got wrong. Wrong keys spend
 * from a failure budget (per client address and for all addresses together); once it is spent
 * they are answered 429 (+ Retry-After) instead of 401 and no longer logged one by one.
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

/** A token bucket: `burst` tokens, one more every `refillMs`. */
export interface BucketSpec {
  burst: number;
  refillMs: number;
}

export interface FailureBudgetOptions {
  /** Failures one client address may make: 10 at once, then one every 6 s (10 a minute). */
  perClient?: BucketSpec;
  /** Failures all addresses together may make: 60 at once, then one every 2 s (30 a minute). */
  global?: BucketSpec;
  /** Addresses tracked at most (oldest dropped; bounds memory under an address spray, which the global bucket still limits). */
  maxTracked?: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * Failed attempts as token buckets, one per client address and one shared by all: a failure
 * spends a token from both; when either is empty the failure is refused (429). Only failures
 * spend, so a client with the right secret is never slowed by anyone's guessing, and rotating
 * addresses does not buy more guesses than the shared bucket holds.
 */
export class FailureBudget {
  private readonly clients = new Map<string, Bucket>();
  private readonly shared: Bucket;
  private readonly perClient: BucketSpec;
  private readonly global: BucketSpec;
  private readonly maxTracked: number;

  constructor(
    private readonly clock: Clock,
    opts: FailureBudgetOptions = {},
  ) {
    this.perClient = opts.perClient ?? { burst: 10, refillMs: 6_000 };
    this.global = opts.global ?? { burst: 60, refillMs: 2_000 };
    this.maxTracked = opts.maxTracked ?? 10_000;
    this.shared = { tokens: this.global.burst, at: clock.now() };
  }

  /**
   * Record a failure by `client`: 0 when the budget allowed it (a token was spent from both
   * buckets), otherwise the milliseconds until it would (nothing is spent).
   */
  spend(client: string): number {
    const now = this.clock.now();
    const mine = this.refill(
      this.clients.get(client) ?? { tokens: this.perClient.burst, at: now },
      this.perClient,
      now,
    );
    const all = this.refill(this.shared, this.global, now);
    // Most recently failing last: the oldest entry is the one dropped at the cap.
    this.clients.delete(client);
    this.clients.set(client, mine);
    if (this.clients.size > this.maxTracked) {
      const first = this.clients.keys().next().value;
      if (first !== undefined) this.clients.delete(first);
    }
    if (mine.tokens >= 1 && all.tokens >= 1) {
      mine.tokens -= 1;
      all.tokens -= 1;
      return 0;
    }
    return Math.max(this.waitFor(mine, this.perClient, now), this.waitFor(all, this.global, now), 1);
  }

  private refill(b: Bucket, spec: BucketSpec, now: number): Bucket {
    if (b.tokens >= spec.burst) {
      b.at = now;
      return b;
    }
    const earned = Math.floor((now - b.at) / spec.refillMs);
    if (earned > 0) {
      b.tokens = Math.min(spec.burst, b.tokens + earned);
      b.at = b.tokens >= spec.burst ? now : b.at + earned * spec.refillMs;
    }
    return b;
  }

  private waitFor(b: Bucket, spec: BucketSpec, now: number): number {
    return b.tokens >= 1 ? 0 : b.at + spec.refillMs - now;
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
export function apiAuth(ctx: ServerContext, budget: FailureBudget): MiddlewareHandler {
  // The expected key's hash, computed once (the key is fixed for the server's life).
  let expected: { key: string; digest: Buffer } | null = null;
  const matches = (presented: string, key: string): boolean => {
    if (expected?.key !== key) expected = { key, digest: createHash('sha256').update(key).digest() };
    return timingSafeEqual(createHash('sha256').update(presented).digest(), expected.digest);
  };
  return async (c, next) => {
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
    // The key first, in constant time: the right key passes whatever the failure budget says.
    if (m?.[1] && matches(m[1], ctx.apiKey)) {
      await next();
      return;
    }
    const client = clientAddress(c);
    const wait = budget.spend(client);
    if (wait > 0) return errorResponse(c, new RateLimitedError(wait));
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
  };
}
