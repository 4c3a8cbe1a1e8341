/**
 * What a refresh attempt's outcome means for the stored connection, as pure functions over the
 * row: the patch after new tokens, the diagnosis after a definitive refusal, and the retry delay
 * after a transient failure. The keeper (keeper.ts) takes the lease, calls the provider and
 * writes what these return.
 */
import { ProviderError, TransientError, type DiagnosedCause } from '../core/errors.js';
import { backoffDelay, isUsable } from '../core/refresh-policy.js';
import type { TokenSet } from '../core/types.js';
import type { ConnectionPatch, ConnectionRecord, LearnedLifetime } from '../store/types.js';
import { secretRejectedCause } from '../providers/causes.js';
import { predictRefreshDeath } from './facts.js';
import { learnFromDeath, outlived } from './learned.js';
import type { ConnectionRuntime } from './runtime.js';

/** The row after a successful refresh (`forgetLifetime`: the grant outlived its learned lifetime). */
export function refreshedPatch(
  rt: ConnectionRuntime,
  row: ConnectionRecord,
  tokens: TokenSet,
  now: number,
): { patch: ConnectionPatch; forgetLifetime: boolean } {
  // A grant that outlived its learned lifetime proves the rule gone (the app was published).
  const forgetLifetime = outlived(row.lifetime, row.grantedAt, now);
  const lifetime =
    forgetLifetime && row.lifetime ? { ...row.lifetime, lifetimeMs: null, cause: null, learnedAt: null } : row.lifetime;
  const patch: ConnectionPatch = {
    accessToken: tokens.accessToken,
    // Never replace a stored refresh token with an absent one.
    refreshToken: tokens.refreshToken ?? undefined,
    idToken: tokens.idToken ?? undefined,
    tokenType: tokens.tokenType,
    scope: tokens.scope ?? row.scope,
    accessExpiresAt: tokens.expiresAt ?? null,
    lastRefreshAt: now,
    lastUsedAt: now,
    refreshExpiresAt: predictRefreshDeath(rt, {
      grantedAt: row.grantedAt,
      lastUsedAt: now,
      // Only what the provider announces now: the stored death was a prediction from the last
      // use (Microsoft's 90 days unused, Google's 6 months), which this use moves forward.
      announced: tokens.refreshExpiresAt ?? null,
      scope: tokens.scope ?? row.scope,
      lifetime,
    }),
    ...(forgetLifetime ? { lifetime } : {}),
    state: 'healthy',
    cause: null,
    failureCount: 0,
    nextAttemptAt: null,
    lastError: null,
  };
  return { patch, forgetLifetime };
}

/**
 * A definitive refusal: the cause to store and tell the human, and what this death teaches about
 * the grant's lifetime (learned.ts). A rejected client secret or service-account key is named as
 * such: no browser can fix it.
 */
export function diagnoseRefusal(
  name: string,
  rt: ConnectionRuntime,
  row: ConnectionRecord,
  err: ProviderError,
  now: number,
): { cause: DiagnosedCause; lifetime: LearnedLifetime | null } {
  const kind = rt.config.kind;
  const secretRejected =
    (kind === 'client_credentials' && err.error === 'invalid_client') ||
    (kind === 'service_account' && (err.error === 'invalid_grant' || err.error === 'invalid_client'));
  if (secretRejected)
    return {
      cause: secretRejectedCause(name, kind as 'client_credentials' | 'service_account', rt.profile.id, err.error),
      lifetime: row.lifetime,
    };
  return learnFromDeath({
    profile: rt.profile.id,
    conn: rt.config,
    diagnosis: rt.profile.diagnose({
      error: err.error,
      description: err.description,
      conn: rt.config,
      grantedAt: row.grantedAt,
      lastUsedAt: row.lastUsedAt,
      now,
    }),
    error: err.error,
    description: err.description,
    scopes: row.scope ? row.scope.split(' ') : rt.config.scopes,
    grantedAt: row.grantedAt,
    now,
    previous: row.lifetime,
  });
}

/** Any failure that is not a definitive refusal, as the TransientError callers see. */
export function asTransient(err: unknown): TransientError {
  if (err instanceof TransientError) return err;
  return new TransientError(
    err instanceof ProviderError ? `Provider answered ${err.error}` : `Refresh failed: ${(err as Error).message}`,
    { cause: err },
  );
}

/**
 * How long to wait before the next refresh attempt after `failureCount` transient failures.
 * While the unexpired token is still served, back off up to 5 min; once callers are failing,
 * retry at least every minute so the provider's recovery is noticed quickly (Retry-After still wins).
 */
export function retryDelay(
  row: ConnectionRecord,
  failureCount: number,
  transient: TransientError,
  now: number,
  random: number,
): number {
  const capMs = row.accessToken && isUsable(now, row.accessExpiresAt) ? 5 * 60_000 : 60_000;
  return backoffDelay(failureCount, transient.retryAfterMs, random, capMs);
}
