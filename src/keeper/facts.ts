/**
 * What the keeper tells callers and the store besides tokens: the typed re-authorization error
 * (with the open flow's facts and the fallbacks that still work) and the predicted refresh-token
 * death. (The tokens themselves: token-info.ts.)
 */
import { ReauthRequiredError, type DiagnosedCause, type ReauthFacts } from '../core/errors.js';
import { earliest } from '../providers/lifetime.js';
import type { LearnedLifetime, Store } from '../store/types.js';
import { applicableLifetimeMs } from './learned.js';
import type { ConnectionRuntime } from './runtime.js';

/** A ReauthRequiredError naming the cause, when and where the human was asked, and what still works. */
export async function reauthErrorFor(
  store: Store,
  name: string,
  cause: DiagnosedCause,
  fallbacks: string[],
  err?: unknown,
): Promise<ReauthRequiredError> {
  const flow = (await store.listOpenFlows(name))[0];
  const reauth: ReauthFacts = flow
    ? {
        flowId: flow.id,
        url: flow.url,
        userCode: flow.userCode ?? undefined,
        askedAt: flow.createdAt,
        askedVia: flow.askedVia,
        expiresAt: flow.expiresAt,
      }
    : {};
  return new ReauthRequiredError(name, cause, { reauth, fallbacks, cause: err });
}

export interface DeathFacts {
  grantedAt: number | null;
  lastUsedAt: number | null;
  /** Refresh-token expiry the provider announced (GitHub `refresh_token_expires_in`). */
  announced: number | null;
  scope: string | null | undefined;
  /** What earlier deaths of this connection's grants taught (learned.ts). */
  lifetime?: LearnedLifetime | null | undefined;
}

/**
 * Predicted refresh-token death: `refresh_token_ttl` from config, else the earliest of the
 * provider profile's rules and a learned lifetime counted from consent.
 */
export function predictRefreshDeath(rt: ConnectionRuntime, f: DeathFacts): number | null {
  if (rt.config.refresh_token_ttl !== undefined && f.grantedAt !== null)
    return f.grantedAt + rt.config.refresh_token_ttl;
  const learned = applicableLifetimeMs(rt.config, f.lifetime ?? null);
  const profile = rt.profile.predictRefreshDeath({
    conn: rt.config,
    scopes: f.scope ? f.scope.split(' ') : rt.config.scopes,
    grantedAt: f.grantedAt,
    lastUsedAt: f.lastUsedAt,
    announcedRefreshExpiresAt: f.announced,
  });
  return earliest(profile, learned !== null && f.grantedAt !== null ? f.grantedAt + learned : null);
}
