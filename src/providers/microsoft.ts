/**
 * Microsoft identity platform (Entra ID v2.0 endpoints). Facts with sources:
 * - Endpoints `login.microsoftonline.com/{tenant}/oauth2/v2.0/{authorize,token,devicecode}`:
 *   https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow
 * - Refresh tokens replace themselves on every use and expire after 90 days of inactivity:
 *   https://learn.microsoft.com/en-us/entra/identity-platform/refresh-tokens
 * - AADSTS codes: https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes
 * - No RFC 7009 revocation endpoint (revoke via Graph `revokeSignInSessions` or My Apps).
 */
import type { ProviderProfile } from './types.js';
import type { ConnectionConfig } from '../config/schema.js';
import { cause, genericCause } from './causes.js';
import { DAY_MS, earliest, overrideDeath } from './lifetime.js';

const INACTIVITY_MS = 90 * DAY_MS;
const GRAPH = 'https://graph.microsoft.com/';

/** The AADSTS number in a Microsoft error description (`AADSTS700082: The refresh token has expired…`). */
export function aadstsCode(description: string | undefined): number | null {
  const m = /AADSTS(\d+)/.exec(description ?? '');
  return m ? Number(m[1]) : null;
}

function graphScopes(...names: string[]): string[] {
  return names.flatMap((n) => [n, `${GRAPH}${n}`]);
}

export function microsoftProfile(conn: ConnectionConfig): ProviderProfile {
  const tenant = encodeURIComponent(conn.tenant ?? 'common');
  const base = `https://login.microsoftonline.com/${tenant}/oauth2/v2.0`;
  return {
    id: 'microsoft',
    displayName: 'Microsoft',
    endpoints: {
      issuer: undefined,
      authUrl: `${base}/authorize`,
      tokenUrl: `${base}/token`,
      deviceUrl: `${base}/devicecode`,
      revokeUrl: undefined,
      userinfoUrl: 'https://graph.microsoft.com/oidc/userinfo',
      apiBase: 'https://graph.microsoft.com/v1.0/',
    },
    rotatesRefreshTokens: true,
    deviceFlowAllowed: () => true,
    authParams: {},
    predictRefreshDeath(input) {
      const override = overrideDeath(input, true);
      if (override !== undefined) return override;
      const lastActivity = input.lastUsedAt ?? input.grantedAt;
      return earliest(lastActivity === null ? null : lastActivity + INACTIVITY_MS, input.announcedRefreshExpiresAt);
    },
    probes: [
      {
        url: 'https://graph.microsoft.com/v1.0/me',
        accountField: 'userPrincipalName',
        requiresAnyScope: [
          ...graphScopes('User.Read', 'User.ReadBasic.All', 'User.Read.All', 'Directory.Read.All'),
          `${GRAPH}.default`,
        ],
      },
      { url: 'https://graph.microsoft.com/oidc/userinfo', accountField: 'email', requiresAnyScope: ['openid'] },
    ],
    diagnose({ error, description }) {
      switch (aadstsCode(description)) {
        case 700082:
          return cause('microsoft_inactive', error, description);
        case 50173:
          return cause('microsoft_password_changed', error, description);
        case 65001:
          return cause('microsoft_consent', error, description);
        case 50076:
        case 50079:
        case 53003:
          return cause('microsoft_interaction', error, description);
        case 54005:
        case 70002:
          return cause('code_invalid', error, description);
        case 70000:
        case 70008:
          return cause('microsoft_revoked', error, description);
        case 7000215:
        case 7000222:
        case 700016:
          return cause('client_invalid', error, description);
      }
      if (error === 'interaction_required') return cause('microsoft_interaction', error, description);
      if (error === 'consent_required') return cause('microsoft_consent', error, description);
      const generic = genericCause(error, description);
      if (generic) return generic;
      if (error === 'invalid_grant') return cause('microsoft_revoked', error, description);
      return cause('unknown', error, description);
    },
  };
}
