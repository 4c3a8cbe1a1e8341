/**
 * Standards-only providers: `oidc` (any issuer with discovery, RFC 8414 / OIDC Discovery) and
 * `oauth2` (explicit endpoints). Lifetimes are unknown unless `refresh_token_ttl` is set or
 * the provider announces one.
 */
import type { ProviderProfile } from './types.js';
import type { ConnectionConfig } from '../config/schema.js';
import { cause, genericCause } from './causes.js';
import { earliest, overrideDeath } from './lifetime.js';

function genericProfile(id: 'oidc' | 'oauth2', conn: ConnectionConfig): ProviderProfile {
  const rotates = true; // rotation is possible (RFC 9700 §4.14.2): always adopt a returned refresh token
  return {
    id,
    displayName: id === 'oidc' ? `OpenID Connect (${conn.issuer ?? 'issuer'})` : 'OAuth 2.0',
    endpoints: { issuer: id === 'oidc' ? conn.issuer : undefined },
    rotatesRefreshTokens: rotates,
    deviceFlowAllowed: () => true,
    // OIDC Core §11: offline_access is ignored unless the request asks for consent.
    authParams: id === 'oidc' && conn.scopes.includes('offline_access') ? { prompt: 'consent' } : {},
    predictRefreshDeath(input) {
      const override = overrideDeath(input, rotates);
      if (override !== undefined) return override;
      return earliest(input.announcedRefreshExpiresAt);
    },
    probes: id === 'oidc' ? [{ url: 'userinfo', accountField: 'sub', requiresAnyScope: ['openid'] }] : [],
    diagnose({ error, description }) {
      return (
        genericCause(error, description) ?? cause(error === 'invalid_grant' ? 'revoked' : 'unknown', error, description)
      );
    },
  };
}

export const oidcProfile = (conn: ConnectionConfig): ProviderProfile => genericProfile('oidc', conn);
export const oauth2Profile = (conn: ConnectionConfig): ProviderProfile => genericProfile('oauth2', conn);
