/** Causes the keeper itself diagnoses (provider-specific causes live in providers/). */
import type { DiagnosedCause } from '../core/errors.js';

export function notAuthorizedCause(name: string): DiagnosedCause {
  return {
    id: 'not_authorized',
    summary: 'This connection has never been authorized.',
    fix: `Run \`tokenwarden connect ${name}\` (or ask the daemon to send you a link).`,
  };
}

export function rotationRaceCause(): DiagnosedCause {
  return {
    id: 'rotation_race',
    summary: 'Another process rotated the refresh token first; its new token was adopted from the store.',
    fix: 'Nothing to do: tokenwarden recovered by itself.',
  };
}
