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

export function rotationRaceCause(): DiagnosedCause {
  return { ...CAUSES.rotation_race };
}
