/** Token endpoint responses (RFC 6749 §5.1) normalised to {@link TokenSet}. */
import { TransientError } from '../core/errors.js';
import type { TokenSet } from '../core/types.js';
import { PASSTHROUGH_ID_TOKEN } from './provider-fetch.js';

function num(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && /^\d+$/.test(v)) return Number(v);
  return undefined;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

/** `bearer` → `Bearer` (RFC 6750 §1.1 scheme spelling, usable as-is in Authorization headers). */
function canonicalType(t: string | undefined): string {
  const lower = t?.toLowerCase();
  if (lower === undefined || lower === 'bearer') return 'Bearer';
  if (lower === 'dpop') return 'DPoP';
  return t as string;
}

/**
 * `expires_in` → `expiresAt` (by `now`, the injected clock); GitHub's `refresh_token_expires_in`
 * → `refreshExpiresAt`; an absent refresh token stays undefined (the keeper never overwrites a
 * stored one with nothing).
 */
export function toTokenSet(body: Record<string, unknown>, now: number): TokenSet {
  const accessToken = str(body['access_token']);
  if (!accessToken) throw new TransientError('token response has no access_token');
  const expiresIn = num(body['expires_in']);
  const refreshExpiresIn = num(body['refresh_token_expires_in']);
  const set: TokenSet = {
    accessToken,
    tokenType: canonicalType(str(body['token_type'])),
  };
  const refreshToken = str(body['refresh_token']);
  if (refreshToken) set.refreshToken = refreshToken;
  const idToken = str(body['id_token']) ?? str(body[PASSTHROUGH_ID_TOKEN]);
  if (idToken) set.idToken = idToken;
  const scope = typeof body['scope'] === 'string' ? body['scope'] : undefined;
  if (scope !== undefined) set.scope = scope;
  if (expiresIn !== undefined) set.expiresAt = now + expiresIn * 1000;
  if (refreshExpiresIn !== undefined) set.refreshExpiresAt = now + refreshExpiresIn * 1000;
  return set;
}
