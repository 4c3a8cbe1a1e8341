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

// Causes the keeper diagnoses itself (no provider answer to read), with the same care for words.

export function notAuthorizedCause(name: string): DiagnosedCause {
  return {
    id: 'not_authorized',
    confidence: 'known',
    summary: 'This connection has never been authorized.',
    fix: `Run \`tokenwarden connect ${name}\` (or ask the daemon to send you a link).`,
  };
}

export function unknownConnectionCause(name: string): DiagnosedCause {
  return {
    id: 'unknown_connection',
    confidence: 'known',
    summary: `No connection named "${name}" is configured.`,
    fix: 'Add it under connections: in tokenwarden.yaml.',
  };
}

export function rotationRaceCause(): DiagnosedCause {
  return { ...CAUSES.rotation_race };
}

export function noRefreshTokenCause(provider: string): DiagnosedCause {
  return {
    id: 'no_refresh_token',
    confidence: 'known',
    summary: 'The provider issued no refresh token, and the access token has expired.',
    fix: `Re-authorize; ${lowerFirst(noRefreshTokenFix(provider))}`,
  };
}

/**
 * Said right after an authorization that brought no refresh token: the connection works only
 * until the access token expires, then needs a human again — never "healthy, no known limit".
 */
export function noRefreshTokenWarning(provider: string, accessExpiresAt: number | null): DiagnosedCause {
  const when = accessExpiresAt
    ? ` (${new Date(accessExpiresAt).toISOString().slice(0, 16).replace('T', ' ')} UTC)`
    : '';
  return {
    id: 'no_refresh_token',
    confidence: 'known',
    summary: `The provider issued no refresh token: this connection dies when its access token expires${when}, and then needs a human again.`,
    fix: noRefreshTokenFix(provider),
  };
}

/** What makes the provider issue a refresh token. */
export function noRefreshTokenFix(provider: string): string {
  switch (provider) {
    case 'google':
      return 'Google issues a refresh token only when the authorization asks for access_type=offline and prompt=consent: tokenwarden sends both; check that nothing in front of the link (a proxy, a bookmark of an older link) drops them, then authorize again.';
    case 'microsoft':
      return 'Microsoft issues a refresh token only for the offline_access scope: tokenwarden requests it; check that the app registration allows it (API permissions: offline_access, or "Allow public client flows" for a public client), then authorize again.';
    default:
      return 'The provider must issue refresh tokens to this client: request the offline_access scope (OpenID Connect) or enable refresh tokens (the refresh_token grant) for this client at the provider, then authorize again.';
  }
}

const lowerFirst = (s: string): string => (s ? (s[0] as string).toLowerCase() + s.slice(1) : s);

/** Where each provider's client secrets and service-account keys are rotated. */
const ROTATE_AT: Record<string, { secret: string; key: string }> = {
  google: {
    secret: 'Google Cloud Console → APIs & Services → Credentials → the OAuth client → Add secret',
    key: 'Google Cloud Console → IAM & Admin → Service Accounts → the account → Keys → Add key (JSON)',
  },
  microsoft: {
    secret: 'Microsoft Entra admin center → App registrations → the app → Certificates & secrets → New client secret',
    key: 'Microsoft Entra admin center → App registrations → the app → Certificates & secrets',
  },
  github: {
    secret: 'GitHub → Settings → Developer settings → the app → Generate a new client secret',
    key: 'GitHub → Settings → Developer settings → the app → Private keys',
  },
};

/**
 * A client-credentials secret or service-account key the provider refused: no browser
 * authorization can fix that, so the cause names the secret and where to rotate it.
 */
export function secretRejectedCause(
  name: string,
  kind: 'client_credentials' | 'service_account',
  provider: string,
  said: string,
): DiagnosedCause {
  const where = ROTATE_AT[provider];
  if (kind === 'service_account')
    return {
      id: 'service_account_key_rejected',
      confidence: 'known',
      summary: `The provider rejected the service-account key in connections.${name}.key_file (${said}): it was deleted, disabled or replaced.`,
      fix: `Create a new key (${where?.key ?? "the provider's service-account settings"}), save it where connections.${name}.key_file points, then restart tokenwarden serve. No browser authorization is needed.`,
    };
  return {
    id: 'client_secret_rejected',
    confidence: 'known',
    summary: `The provider rejected connections.${name}.client_secret (${said}): it was rotated, deleted, expired or mistyped.`,
    fix: `Create a new secret (${where?.secret ?? "the provider's client settings"}), put it in connections.${name}.client_secret (or the \${VAR} it names), then restart tokenwarden serve. No browser authorization is needed.`,
  };
}
