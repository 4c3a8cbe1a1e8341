/** Causes the keeper itself diagnoses; texts live with the others in providers/causes.ts. */
import type { DiagnosedCause } from '../core/errors.js';
import { CAUSES } from '../providers/causes.js';

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
