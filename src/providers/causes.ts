/**
 * Every diagnosed cause's words live here, so the texts a human reads (chat messages, status,
 * `ReauthRequiredError`) are consistent and reviewable in one place. Ids are stable
 * (dashboards and tests key on them); texts may improve.
 */
import { LIKELY, type DiagnosedCause } from '../core/errors.js';

type Cause = Omit<DiagnosedCause, 'providerError' | 'providerDescription'>;

export const CAUSES = {
  google_testing_expiry: {
    id: 'google_testing_expiry',
    confidence: 'known',
    summary:
      'The Google Cloud app is in "Testing" status, so Google expires its refresh tokens 7 days after consent (unless only openid/email/profile are requested).',
    fix: 'Re-authorize now; to stop the weekly expiry, publish the app to production (Google Cloud console → OAuth consent screen → Publish app).',
  },
  google_revoked_or_expired: {
    id: 'revoked',
    confidence: 'unknown',
    summary:
      'Google says the refresh token has expired or been revoked (access removed in the Google account, a password change for Gmail scopes, or the 100-refresh-token limit per account and client).',
    fix: 'Re-authorize; if it keeps happening, check https://myaccount.google.com/permissions and avoid creating many tokens for the same account.',
  },
  google_invalid_rapt: {
    id: 'google_invalid_rapt',
    confidence: 'known',
    summary:
      'Google Workspace session control requires re-authentication (invalid_rapt): the admin limits how long a session may last.',
    fix: 'Re-authorize; to stop it, ask the Workspace admin to exempt this app from the Google Cloud session-length policy (trusted app).',
  },
  google_unused: {
    id: 'unused_too_long',
    confidence: 'likely',
    summary: 'The Google refresh token was not used for 6 months, so Google invalidated it.',
    fix: 'Re-authorize; tokenwarden keeps it in use from now on.',
  },
  google_account_disabled: {
    id: 'account_disabled',
    confidence: 'known',
    summary: 'The Google account was deleted or disabled.',
    fix: 'Restore the account or authorize a different one.',
  },
  microsoft_inactive: {
    id: 'unused_too_long',
    confidence: 'known',
    summary: 'The Microsoft refresh token expired from inactivity (AADSTS700082: unused for 90 days).',
    fix: 'Re-authorize; tokenwarden refreshes it regularly from now on.',
  },
  microsoft_password_changed: {
    id: 'password_changed',
    confidence: 'known',
    summary: "The grant ended because the user's password changed or the session was reset (AADSTS50173).",
    fix: 'Re-authorize with the new password.',
  },
  microsoft_revoked: {
    id: 'revoked',
    confidence: 'known',
    summary:
      'Microsoft refused the refresh token (AADSTS70000/70008): it was revoked, expired or issued for other scopes.',
    fix: 'Re-authorize; check the app under https://myapps.microsoft.com if it was removed.',
  },
  microsoft_consent: {
    id: 'consent_required',
    confidence: 'known',
    summary: 'The user or admin has not consented to the requested permissions (AADSTS65001).',
    fix: 'Re-authorize and accept the permissions; for work accounts an admin may have to grant consent.',
  },
  microsoft_interaction: {
    id: 'interaction_required',
    confidence: 'known',
    summary: 'Microsoft requires the user to sign in interactively (conditional access, MFA or a policy change).',
    fix: 'Re-authorize in a browser and complete the sign-in challenge.',
  },
  github_bad_refresh_token: {
    id: 'revoked',
    confidence: 'unknown',
    summary:
      'GitHub refused the refresh token: it expired (6 months), was already used (they are single-use), or the app was revoked.',
    fix: 'Re-authorize; never share one refresh token between several processes without tokenwarden.',
  },
  code_invalid: {
    id: 'code_invalid',
    confidence: 'known',
    summary: 'The authorization code expired or was already used.',
    fix: 'Open the new link and approve again; paste the result promptly.',
  },
  client_invalid: {
    id: 'client_invalid',
    confidence: 'known',
    summary: 'The provider rejected the client credentials (client_id / client_secret).',
    fix: 'Check client_id and client_secret in the config (the secret may have been rotated or deleted).',
  },
  access_denied: {
    id: 'access_denied',
    confidence: 'known',
    summary: 'The human declined the authorization request.',
    fix: 'Ask again and approve the request, or remove the connection.',
  },
  device_code_expired: {
    id: 'device_code_expired',
    confidence: 'known',
    summary: 'The device code expired before it was approved.',
    fix: 'Start a new authorization and approve it within the time shown.',
  },
  invalid_scope: {
    id: 'invalid_scope',
    confidence: 'known',
    summary: 'The provider rejected the requested scopes.',
    fix: 'Check the scopes in the config against what the app is allowed to request.',
  },
  revoked: {
    id: 'revoked',
    confidence: 'unknown',
    summary: 'The provider refused the refresh token: it was revoked or has expired.',
    fix: 'Re-authorize the connection.',
  },
  rotation_race: {
    id: 'rotation_race',
    confidence: 'known',
    summary: 'Another process rotated the refresh token first; its new token was adopted from the store.',
    fix: 'Nothing to do: tokenwarden recovered by itself.',
  },
  unknown: {
    id: 'unknown',
    confidence: 'unknown',
    summary: 'The provider refused the grant without saying why.',
    fix: 'Re-authorize the connection; if it happens again, check the provider error below and the app registration.',
  },
} as const satisfies Record<string, Cause>;

export type CauseKey = keyof typeof CAUSES;

/** A cause with the provider's error attached as received. */
export function cause(key: CauseKey, error?: string, description?: string): DiagnosedCause {
  return {
    ...CAUSES[key],
    ...(error === undefined ? {} : { providerError: error }),
    ...(description === undefined ? {} : { providerDescription: description }),
  };
}

/** Causes every provider shares: the OAuth error code alone is enough (RFC 6749 §5.2, RFC 8628 §3.5). */
export function genericCause(error: string, description?: string): DiagnosedCause | null {
  switch (error) {
    case 'invalid_client':
    case 'unauthorized_client':
    case 'incorrect_client_credentials':
      return cause('client_invalid', error, description);
    case 'access_denied':
    case 'authorization_declined':
      return cause('access_denied', error, description);
    case 'expired_token':
      return cause('device_code_expired', error, description);
    case 'invalid_scope':
      return cause('invalid_scope', error, description);
    default:
      return null;
  }
}

/**
 * A cause in one line for status and agents: what happened, the fix, and — when it is inferred
 * rather than said by the provider or declared — that it is a likely diagnosis, not a fact.
 */
export function causeLine(c: Pick<DiagnosedCause, 'summary' | 'fix' | 'confidence'>): string {
  return `${causeSentence(c)} Fix: ${c.fix}`;
}

/** What happened, prefixed with "Likely cause (…):" when it is inferred rather than known. */
export function causeSentence(c: Pick<DiagnosedCause, 'summary' | 'confidence'>): string {
  return c.confidence === 'likely' ? `${LIKELY} ${c.summary}` : c.summary;
}
