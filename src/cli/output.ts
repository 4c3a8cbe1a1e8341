/** Terminal output helpers shared by CLI commands: errors in words, JSON lines, tables. */
import { ReauthRequiredError, TokenwardenError, channelNames } from '../core/errors.js';
import { redact } from '../core/logger.js';
import { formatDuration } from '../core/duration.js';

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
  now: () => number;
}

export const processIo: Io = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
  now: () => Date.now(),
};

/** Describe an error for a human on stderr (never a stack trace for known errors, never a secret). */
export function describeError(err: unknown, now: number): string {
  if (err instanceof ReauthRequiredError) {
    const lines = [`tokenwarden: ${err.message}`];
    if (err.reauth.url)
      lines.push(
        `  Open: ${err.reauth.url}${err.reauth.userCode ? ` (code ${err.reauth.userCode})` : ''}` +
          (err.reauth.expiresAt ? `, expires in ${formatDuration(err.reauth.expiresAt - now)}` : ''),
      );
    if (err.reauth.askedAt)
      lines.push(
        `  Asked ${formatDuration(now - err.reauth.askedAt)} ago${err.reauth.askedVia?.length ? ` via ${channelNames(err.reauth.askedVia)}` : ''}.`,
      );
    if (err.fallbacks.length) lines.push(`  Still works: ${err.fallbacks.join('; ')}`);
    return redact(lines.join('\n')) + '\n';
  }
  if (err instanceof TokenwardenError) return redact(`tokenwarden: ${err.message}`) + '\n';
  const e = err as Error;
  return redact(`tokenwarden: unexpected error: ${e?.message ?? String(err)}`) + '\n';
}

export function jsonLine(obj: unknown): string {
  return JSON.stringify(obj) + '\n';
}

export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return (
    rows
      .map((r) =>
        r
          .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

export function when(t: number | null, now: number): string {
  if (t === null) return '-';
  return t >= now ? `in ${formatDuration(t - now)}` : `${formatDuration(now - t)} ago`;
}
