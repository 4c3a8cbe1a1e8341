/** The terminal as CLI commands see it (its own module: the token fast path loads nothing else of output.ts). */
import { neutralizeControls } from '../core/text.js';

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
  now: () => number;
}

/** The terminal: text from outside (an account name, a provider's words) cannot drive it. */
export const processIo: Io = {
  out: (s) => process.stdout.write(neutralizeControls(s, { multiline: true })),
  err: (s) => process.stderr.write(neutralizeControls(s, { multiline: true })),
  now: () => Date.now(),
};
