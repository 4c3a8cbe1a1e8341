/** Causes the keeper itself diagnoses; texts live with the others in providers/causes.ts. */
import type { DiagnosedCause } from '../core/errors.js';
import { CAUSES } from '../providers/causes.js';

export function notAuthorizedCause(name: string): DiagnosedCause {
  return {
    id: 'not_authorized',
    summary: 'This connection has never been authorized.',
    fix: `Run \`tokenwarden connect ${name}\` (or ask the daemon to send you a link).`,
  };
}

export function unknownConnectionCause(name: string): DiagnosedCause {
  return {
    id: 'unknown_connection',
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
    summary: 'The provider issued no refresh token, and the access token has expired.',
    fix:
      provider === 'google'
        ? 'Re-authorize; tokenwarden asks Google for offline access (access_type=offline, prompt=consent).'
        : "Re-authorize with the offline_access scope (or the provider's equivalent) so a refresh token is issued.",
  };
}

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
      summary: `The provider rejected the service-account key in connections.${name}.key_file (${said}): it was deleted, disabled or replaced.`,
      fix: `Create a new key (${where?.key ?? "the provider's service-account settings"}), save it where connections.${name}.key_file points, then restart tokenwarden serve. No browser authorization is needed.`,
    };
  return {
    id: 'client_secret_rejected',
    summary: `The provider rejected connections.${name}.client_secret (${said}): it was rotated, deleted, expired or mistyped.`,
    fix: `Create a new secret (${where?.secret ?? "the provider's client settings"}), put it in connections.${name}.client_secret (or the \${VAR} it names), then restart tokenwarden serve. No browser authorization is needed.`,
  };
}
