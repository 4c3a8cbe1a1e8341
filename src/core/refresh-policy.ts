/**
 * Pure refresh decisions. No I/O: the keeper feeds in facts and acts on
 * the returned decision values.
 */
import { backoffMs } from './http-policy.js';

/** How long before expiry to refresh: 10% of the lifetime, at least min(60 s, 25%), at most 5 min. */
export function refreshMargin(lifetimeMs: number): number {
  if (!(lifetimeMs > 0)) return 0;
  const margin = Math.max(lifetimeMs * 0.1, Math.min(60_000, lifetimeMs * 0.25));
  return Math.min(margin, 300_000);
}

export interface TokenFacts {
  now: number;
  hasAccessToken: boolean;
  accessExpiresAt: number | null;
  /** When the current access token was obtained (lifetime = expiresAt − obtainedAt). */
  obtainedAt: number | null;
}

export type RefreshReason = 'no_token' | 'expired' | 'within_margin' | 'fresh' | 'no_expiry';

/** `shouldRefresh(...) → { should, reason, refreshAt }` (the Nango idea: a pure decision). */
export function shouldRefresh(f: TokenFacts): { should: boolean; reason: RefreshReason; refreshAt: number | null } {
  if (!f.hasAccessToken) return { should: true, reason: 'no_token', refreshAt: f.now };
  if (f.accessExpiresAt === null) return { should: false, reason: 'no_expiry', refreshAt: null };
  const lifetime = f.obtainedAt !== null ? f.accessExpiresAt - f.obtainedAt : 3_600_000;
  const refreshAt = f.accessExpiresAt - refreshMargin(lifetime);
  if (f.now >= f.accessExpiresAt) return { should: true, reason: 'expired', refreshAt };
  if (f.now >= refreshAt) return { should: true, reason: 'within_margin', refreshAt };
  return { should: false, reason: 'fresh', refreshAt };
}

/** Is the access token still usable right now (not past its expiry, with a small skew allowance)? */
export function isUsable(now: number, accessExpiresAt: number | null, skewMs = 1_000): boolean {
  return accessExpiresAt === null || now < accessExpiresAt - skewMs;
}

/**
 * Exponential backoff (base 1 s) with equal jitter, honouring Retry-After (the one formula,
 * {@link backoffMs}): never earlier than the provider
 * asked. `random` in [0,1) is injected for determinism. `capMs` bounds the exponential part
 * (the keeper uses a shorter cap once callers are failing, so recovery is noticed sooner).
 */
export function backoffDelay(
  failureCount: number,
  retryAfterMs: number | undefined,
  random: number,
  capMs = 5 * 60_000,
): number {
  return backoffMs({ attempt: failureCount, baseMs: 1_000, capMs, random, jitter: [0.5, 1], retryAfterMs });
}

/**
 * OAuth error codes that are a definitive "this grant/client is dead" (RFC 6749 §5.2 and
 * provider variants). Anything else (server_error, temporarily_unavailable, unknown) is
 * treated as transient: only a definitive answer may move a connection to reauth_required.
 */
const DEFINITIVE = new Set([
  'invalid_grant',
  'invalid_client',
  'unauthorized_client',
  'invalid_scope',
  'access_denied',
  'interaction_required',
  'consent_required',
  'login_required',
  'invalid_rapt',
  'bad_refresh_token', // GitHub
  'incorrect_client_credentials', // GitHub
  'unsupported_grant_type',
]);

export function isDefinitiveOAuthError(error: string): boolean {
  return DEFINITIVE.has(error);
}
