/**
 * What the keeper hands a caller: the access token with its type, expiry and the connection's
 * state — from the cache, the store, a static secret, or an unexpired copy while the provider fails.
 */
import { ReauthRequiredError } from '../core/errors.js';
import type { ConnectionState } from '../core/types.js';
import type { ConnectionRecord } from '../store/types.js';
import type { ConnectionRuntime } from './runtime.js';

export interface AccessTokenInfo {
  accessToken: string;
  tokenType: string;
  expiresAt: number | null;
  state: ConnectionState;
}

/** A still-valid token served while the provider is failing: not cached, so every call re-checks the store and recovery is noticed. */
export function degradedInfo(row: ConnectionRecord): AccessTokenInfo {
  return {
    accessToken: row.accessToken as string,
    tokenType: row.tokenType ?? 'Bearer',
    expiresAt: row.accessExpiresAt,
    state: 'degraded',
  };
}

/** `static` connections: the configured secret, which never expires. */
export function staticSecretInfo(name: string, rt: ConnectionRuntime): AccessTokenInfo {
  const secret = rt.config.secret;
  if (!secret)
    throw new ReauthRequiredError(name, {
      id: 'no_secret',
      confidence: 'known',
      summary: 'The static connection has no secret configured.',
      fix: `Set connections.${name}.secret.`,
    });
  return { accessToken: secret, tokenType: 'Bearer', expiresAt: null, state: 'healthy' };
}
