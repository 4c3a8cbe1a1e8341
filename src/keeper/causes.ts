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
    fix:
      provider === 'google'
        ? 'Re-authorize; tokenwarden asks Google for offline access (access_type=offline, prompt=consent).'
        : "Re-authorize with the offline_access scope (or the provider's equivalent) so a refresh token is issued.",
  };
}
