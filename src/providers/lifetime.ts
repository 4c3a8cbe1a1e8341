/** Shared refresh-token lifetime arithmetic for provider profiles (pure). */
import type { ProviderProfile } from './types.js';

export const DAY_MS = 86_400_000;
/** "6 months" as providers count it (GitHub, Google unused rule): 183 days, conservative. */
export const SIX_MONTHS_MS = 183 * DAY_MS;

type PredictInput = Parameters<ProviderProfile['predictRefreshDeath']>[0];

/**
 * The `refresh_token_ttl` override (config) wins over every provider rule. For rotating
 * providers a new refresh token starts a new lifetime at each use; otherwise the lifetime
 * counts from consent.
 */
export function overrideDeath(input: PredictInput, rotates: boolean): number | null | undefined {
  const ttl = input.conn.refresh_token_ttl;
  if (ttl === undefined) return undefined;
  const base = rotates ? (input.lastUsedAt ?? input.grantedAt) : input.grantedAt;
  return base === null ? null : base + ttl;
}

/** Earliest of the known deaths (null when none is known). */
export function earliest(...deaths: Array<number | null | undefined>): number | null {
  const known = deaths.filter((d): d is number => typeof d === 'number');
  return known.length ? Math.min(...known) : null;
}
