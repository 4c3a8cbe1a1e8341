/**
 * Exit codes, mapped from error codes in this one place:
 * 0 ok · 1 unexpected · 2 usage or config error · 3 a human must re-authorize ·
 * 4 provider, network or channel unavailable (transient) · 5 the link expired unanswered
 * (`connect`: ask again for a fresh one).
 */
import { TokenwardenError } from '../core/errors.js';

export const EXIT = { ok: 0, unexpected: 1, usage: 2, reauth: 3, unavailable: 4, linkExpired: 5 } as const;

export function exitCodeFor(err: unknown): number {
  if (!(err instanceof TokenwardenError)) return EXIT.unexpected;
  switch (err.code) {
    case 'TW_REAUTH_REQUIRED':
      return EXIT.reauth;
    case 'TW_PROVIDER_UNAVAILABLE':
    case 'TW_TIMEOUT':
      return EXIT.unavailable;
    case 'TW_CONFIG':
    case 'TW_USAGE':
    case 'TW_KEY':
    case 'TW_NOT_FOUND':
    case 'TW_BAD_INPUT':
    case 'TW_FORBIDDEN':
    case 'TW_TOO_LARGE':
      return EXIT.usage;
    default:
      return EXIT.unexpected;
  }
}
