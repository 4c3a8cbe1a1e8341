/**
 * Google (accounts.google.com). Facts with sources:
 * - Endpoints and `access_type=offline` + `prompt=consent` to get a refresh token:
 *   https://developers.google.com/identity/protocols/oauth2/web-server
 * - Refresh tokens do not rotate; they die on revocation, 6 months unused, password change
 *   (Gmail scopes), past 100 per account and client, and — for apps in "Testing" status with
 *   scopes beyond openid/email/profile — 7 days after consent:
 *   https://developers.google.com/identity/protocols/oauth2#expiration
 * - The device flow ("TVs and limited-input devices") allows only a short scope list, no Gmail:
 *   https://developers.google.com/identity/protocols/oauth2/limited-input-device#allowedscopes
 */
import type { ProviderProfile } from './types.js';
import type { ConnectionConfig } from '../config/schema.js';
import { cause, genericCause } from './causes.js';
import { DAY_MS, SIX_MONTHS_MS, earliest, overrideDeath } from './lifetime.js';

const G = 'https://www.googleapis.com/auth/';

/** Scopes that do not trigger the 7-day testing-mode expiry. */
export const GOOGLE_BASIC_SCOPES: ReadonlySet<string> = new Set([
  'openid',
  'email',
  'profile',
  `${G}userinfo.email`,
  `${G}userinfo.profile`,
]);

/** Scopes the Google device flow accepts (anything else → invalid_scope). */
export const GOOGLE_DEVICE_SCOPES: ReadonlySet<string> = new Set([
  ...GOOGLE_BASIC_SCOPES,
  `${G}drive.appdata`,
  `${G}drive.file`,
  `${G}youtube`,
  `${G}youtube.readonly`,
]);

/** Gmail scopes that allow `users.getProfile` (gmail.send alone does not). */
export const GMAIL_PROFILE_SCOPES = [
  'https://mail.google.com/',
  `${G}gmail.modify`,
  `${G}gmail.readonly`,
  `${G}gmail.metadata`,
  `${G}gmail.compose`,
];

const TESTING_LIFETIME_MS = 7 * DAY_MS;
/** Tolerance when deciding that a grant reached its 7-day death (clock skew, hour rounding). */
const TESTING_SLACK_MS = 2 * 3_600_000;

export function onlyBasicScopes(scopes: string[]): boolean {
  return scopes.every((s) => GOOGLE_BASIC_SCOPES.has(s));
}

function testingExpiryApplies(conn: ConnectionConfig, scopes: string[]): boolean {
  return conn.app_status === 'testing' && !onlyBasicScopes(scopes);
}

export function googleProfile(_conn: ConnectionConfig): ProviderProfile {
  return {
    id: 'google',
    displayName: 'Google',
    endpoints: {
      issuer: undefined,
      authUrl: 'https://accounts.google.com/o/oauth2/v2/auth',
      tokenUrl: 'https://oauth2.googleapis.com/token',
      deviceUrl: 'https://oauth2.googleapis.com/device/code',
      revokeUrl: 'https://oauth2.googleapis.com/revoke',
      userinfoUrl: 'https://openidconnect.googleapis.com/v1/userinfo',
      apiBase: 'https://gmail.googleapis.com/',
    },
    rotatesRefreshTokens: false,
    deviceFlowAllowed: (scopes) => scopes.every((s) => GOOGLE_DEVICE_SCOPES.has(s)),
    authParams: { access_type: 'offline', prompt: 'consent' },
    predictRefreshDeath(input) {
      const override = overrideDeath(input, false);
      if (override !== undefined) return override;
      const testing =
        testingExpiryApplies(input.conn, input.scopes) && input.grantedAt !== null
          ? input.grantedAt + TESTING_LIFETIME_MS
          : null;
      const lastActivity = input.lastUsedAt ?? input.grantedAt;
      const unused = lastActivity === null ? null : lastActivity + SIX_MONTHS_MS;
      return earliest(testing, unused, input.announcedRefreshExpiresAt);
    },
    probes: [
      { url: 'gmail/v1/users/me/profile', accountField: 'emailAddress', requiresAnyScope: GMAIL_PROFILE_SCOPES },
      {
        url: 'https://openidconnect.googleapis.com/v1/userinfo',
        accountField: 'email',
        requiresAnyScope: ['openid', 'email', 'profile', `${G}userinfo.email`, `${G}userinfo.profile`],
      },
    ],
    diagnose({ error, description, conn, grantedAt, lastUsedAt, now }) {
      const text = `${error} ${description ?? ''}`;
      // invalid_rapt arrives as error=invalid_grant with error_subtype=invalid_rapt or in the description.
      if (/invalid_rapt|\brapt\b|reauth/i.test(text)) return cause('google_invalid_rapt', error, description);
      const generic = genericCause(error, description);
      if (generic) return generic;
      if (error !== 'invalid_grant') return cause('unknown', error, description);
      if (/deleted|disabled/i.test(description ?? '')) return cause('google_account_disabled', error, description);
      if (/code|verifier/i.test(description ?? '') && !/expired or revoked/i.test(description ?? ''))
        return cause('code_invalid', error, description);
      if (testingExpiryApplies(conn, conn.scopes)) {
        // Known facts decide: a grant ≥ ~7 days old in a Testing app died of the testing rule.
        if (grantedAt === null || now - grantedAt >= TESTING_LIFETIME_MS - TESTING_SLACK_MS)
          return cause('google_testing_expiry', error, description);
      }
      const lastActivity = lastUsedAt ?? grantedAt;
      if (lastActivity !== null && now - lastActivity >= SIX_MONTHS_MS)
        return cause('google_unused', error, description);
      return cause('google_revoked_or_expired', error, description);
    },
  };
}
