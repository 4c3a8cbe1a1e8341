/**
 * The MCP send policy's config values: `mcp.send_rate` (`20/min`) and the entries of
 * `mcp.allowed_recipients`. Here, below the schema that validates them; src/mcp/send-policy.ts
 * enforces them.
 */
import { parseDuration } from '../core/duration.js';

export interface SendRate {
  count: number;
  windowMs: number;
}

const UNIT_WORDS: Record<string, string> = {
  s: '1s',
  sec: '1s',
  second: '1s',
  m: '1m',
  min: '1m',
  minute: '1m',
  h: '1h',
  hour: '1h',
  d: '1d',
  day: '1d',
};

/** `20/min`, `100/h`, `5/10m`, `0/min` (no sending through MCP); null when malformed. */
export function parseSendRate(text: string): SendRate | null {
  const m = /^\s*(\d{1,6})\s*\/\s*([0-9a-z.]+)\s*$/i.exec(text);
  if (!m) return null;
  const windowMs = parseDuration(UNIT_WORDS[(m[2] ?? '').toLowerCase()] ?? m[2] ?? '');
  if (windowMs === null || windowMs <= 0) return null;
  return { count: Number(m[1]), windowMs };
}

/** An entry of `mcp.allowed_recipients`: an address, or `@domain` for every address there. */
export const ALLOWED_RECIPIENT_RE =
  /^(?:[^\s@<>()[\]\\,;:"]+)?@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** The recipients (bare addresses) that no entry of `allowed` admits, lower-cased, each once. */
