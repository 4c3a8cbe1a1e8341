/**
 * GitHub (OAuth apps and GitHub App user tokens). Facts with sources:
 * - Endpoints and `Accept: application/json`; errors come back as HTTP 200 with an `error` field:
 *   https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps
 * - GitHub App user tokens expire after 8 hours; refresh tokens last 6 months
 *   (`refresh_token_expires_in`) and are single-use:
 *   https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/refreshing-user-access-tokens
 * - Error codes: https://docs.github.com/en/apps/oauth-apps/maintaining-oauth-apps/troubleshooting-oauth-app-access-token-request-errors
 */
import type { ProviderProfile } from './types.js';
import type { ConnectionConfig } from '../config/schema.js';
import { cause, genericCause } from './causes.js';
import { SIX_MONTHS_MS, earliest, overrideDeath } from './lifetime.js';

export function githubProfile(_conn: ConnectionConfig): ProviderProfile {
  return {
    id: 'github',
    displayName: 'GitHub',
    endpoints: {
      issuer: undefined,
      authUrl: 'https://github.com/login/oauth/authorize',
      tokenUrl: 'https://github.com/login/oauth/access_token',
      deviceUrl: 'https://github.com/login/device/code',
      // Not RFC 7009: DELETE /applications/{client_id}/token on the REST API (see oauth/revoke.ts).
      revokeUrl: 'https://api.github.com/applications/{client_id}/token',
      userinfoUrl: undefined,
      apiBase: 'https://api.github.com/',
    },
    rotatesRefreshTokens: true,
    deviceFlowAllowed: () => true,
    authParams: {},
    predictRefreshDeath(input) {
      const override = overrideDeath(input, true);
      if (override !== undefined) return override;
      if (input.announcedRefreshExpiresAt !== null) return input.announcedRefreshExpiresAt;
      const lastActivity = input.lastUsedAt ?? input.grantedAt;
      return earliest(lastActivity === null ? null : lastActivity + SIX_MONTHS_MS);
    },
    probes: [{ url: 'user', accountField: 'login' }],
    diagnose({ error, description }) {
      switch (error) {
        case 'bad_refresh_token':
          return cause('github_bad_refresh_token', error, description);
        case 'bad_verification_code':
          return cause('code_invalid', error, description);
        case 'incorrect_device_code':
          return cause('device_code_expired', error, description);
      }
      return (
        genericCause(error, description) ?? cause(error === 'invalid_grant' ? 'revoked' : 'unknown', error, description)
      );
    },
  };
}
