/** Terminal output helpers shared by CLI commands: errors in words, JSON lines, tables. */
import { ReauthRequiredError, TokenwardenError, channelNames } from '../core/errors.js';
import { redact } from '../core/logger.js';
import { formatDuration } from '../core/duration.js';
import { neutralizeControls } from '../core/text.js';
import type { Io } from './io.js';

export { processIo, type Io } from './io.js';

/** `openWarden` options of a CLI command: its `--config`, and file-mode warnings on stderr. */
export function wardenOptions(
  o: { config?: string | undefined },
  io: Io,
): { configPath?: string; onWarning: (m: string) => void } {
  return {
    ...(o.config ? { configPath: o.config } : {}),
    onWarning: (m) => io.err(`tokenwarden: warning: ${m}\n`),
  };
}

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

/** One JSON line; DEL, C1 and line separators are \u-escaped (JSON escapes C0 itself), so the value survives the terminal filter. */
export function jsonLine(obj: unknown): string {
  return (
    JSON.stringify(obj).replace(
      /[\u007f-\u009f\u2028\u2029]/g,
      (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
    ) + '\n'
  );
}

/** Columns padded to their widest cell; every cell is one line with no control characters. */
export function table(cells: string[][]): string {
  const rows = cells.map((r) => r.map((c) => neutralizeControls(c)));
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
