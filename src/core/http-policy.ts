/**
 * The HTTP policy every outbound client shares (token endpoint, mail APIs, channels, probes):
 * which URLs may carry a secret, how to read `Retry-After`, which statuses are worth retrying,
 * and how long to wait before the next attempt. Pure: no I/O, `now` and `random` are passed in. See docs/architecture.md (core/).
 */

/**
 * The longest wait a `Retry-After` may impose (24 h). A provider asking for longer is treated as
 * asking for a day: the caller tries again then and is told again. The cap also keeps delays
 * inside what a Node timer can hold (2^31−1 ms, about 24.8 days; a longer one fires at once).
 */
export const MAX_RETRY_AFTER_MS = 24 * 3_600_000;

const DAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];
const LONG_DAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';
const MONTH = `(${MONTHS.join('|')})`;
/** IMF-fixdate, the preferred form: `Sun, 06 Nov 1994 08:49:37 GMT`. */
const IMF_FIXDATE = new RegExp(`^(?:${DAYS.join('|')}), (\\d{2}) ${MONTH} (\\d{4}) ${TIME} GMT$`);
/** Obsolete RFC 850 form: `Sunday, 06-Nov-94 08:49:37 GMT`. */
const RFC850 = new RegExp(`^(?:${LONG_DAYS.join('|')}), (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`);
/** Obsolete asctime() form: `Sun Nov  6 08:49:37 1994`. */
const ASCTIME = new RegExp(`^(?:${DAYS.join('|')}) ${MONTH} ( \\d|\\d{2}) ${TIME} (\\d{4})$`);

/** Milliseconds since the epoch for valid calendar fields, else undefined (no `31 Feb` roll-over). */
function utc(year: number, month: string, day: number, h: number, m: number, s: number): number | undefined {
  const mon = MONTHS.indexOf(month);
  if (mon < 0 || h > 23 || m > 59 || s > 60) return undefined;
  const at = Date.UTC(year, mon, day, h, m, Math.min(s, 59));
  const d = new Date(at);
  if (d.getUTCFullYear() !== year || d.getUTCMonth() !== mon || d.getUTCDate() !== day) return undefined;
  return at;
}

/**
 * An HTTP-date (RFC 9110 §5.6.7) in any of its three forms, in milliseconds since the epoch;
 * undefined for anything else. Stricter than `Date.parse`, which accepts many strings that are
 * not dates at all.
 */
export function parseHttpDate(value: string, now: number): number | undefined {
  let m = IMF_FIXDATE.exec(value);
  if (m) return utc(Number(m[3]), m[2]!, Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6]));
  m = ASCTIME.exec(value);
  if (m) return utc(Number(m[6]), m[1]!, Number(m[2]!.trim()), Number(m[3]), Number(m[4]), Number(m[5]));
  m = RFC850.exec(value);
  if (m) {
    // A two-digit year more than 50 years in the future is the most recent past year with those digits.
    const thisYear = new Date(now).getUTCFullYear();
    let year = Math.floor(thisYear / 100) * 100 + Number(m[3]);
    if (year > thisYear + 50) year -= 100;
    return utc(year, m[2]!, Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6]));
  }
  return undefined;
}

/**
 * `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an HTTP-date, as milliseconds from `now`.
 * A date in the past is 0 (retry now); anything longer than `maxMs` (default
 * {@link MAX_RETRY_AFTER_MS}) is `maxMs`; absent, empty or unparseable → undefined.
 */
export function parseRetryAfter(
  value: string | null | undefined,
  now: number,
  maxMs: number = MAX_RETRY_AFTER_MS,
): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Math.min(Number(v) * 1000, maxMs);
  const at = parseHttpDate(v, now);
  if (at === undefined) return undefined;
  return Math.min(Math.max(0, at - now), maxMs);
}

/**
 * Is this HTTP status worth retrying later with the same request? 408 Request Timeout, 425 Too
 * Early, 429 Too Many Requests, and every 5xx (500, 502, 503, 504 above all): the server failed or
 * is busy, the request itself was not refused. 501 and 505 are included with the rest of 5xx on
 * purpose: a human re-authorizing cannot fix them either, and a later retry costs little. Every
 * other status (4xx) is an answer about the request and is classified by the caller.
 */
export function isTransientStatus(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || (status >= 500 && status <= 599);
}

export interface BackoffOptions {
  /** 1 for the first retry after one failure; values below 1 count as 1. */
  attempt: number;
  /** The delay before the first retry, before jitter. */
  baseMs: number;
  /** Upper bound of the exponential part, before jitter. */
  capMs: number;
  /** A number in [0, 1), injected so tests are deterministic. */
  random: number;
  /**
   * The jitter range as factors of the exponential delay: `[0.5, 1]` ("equal jitter", the
   * default: spreads retries of many clients while keeping at least half the wait), `[1, 1.2]`
   * (up to +20%).
   */
  jitter?: readonly [low: number, high: number] | undefined;
  /** The server's `Retry-After` in ms: the delay is never shorter than what it asked. */
  retryAfterMs?: number | undefined;
}

/**
 * The one backoff formula: `min(cap, base · 2^(attempt−1))`, scaled by a random factor in the
 * jitter range, and never shorter than the server's `Retry-After`.
 */
export function backoffMs(o: BackoffOptions): number {
  const [low, high] = o.jitter ?? [0.5, 1];
  const exp = Math.min(o.capMs, o.baseMs * 2 ** Math.min(Math.max(0, o.attempt - 1), 30));
  const jittered = exp * low + exp * (high - low) * o.random;
  return Math.max(jittered, o.retryAfterMs ?? 0);
}

// Which URLs may carry a secret: https, or http to loopback only (RFC 8252 §8.3 spirit).

export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h);
}

/** What the rule says, in the words every refusal uses (config load and first use alike). */
export const PLAIN_HTTP_REFUSED =
  'http:// is allowed only to a loopback host (127.0.0.1, ::1, localhost); use https://';

/**
 * The one rule for every outbound URL that carries a secret (OAuth endpoints, mail API bases,
 * chat and webhook URLs): `https:`, or `http:` to a loopback host. Returns what is wrong, or
 * null when the URL may be used.
 */
export function outboundUrlProblem(value: string): string | null {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `not a valid URL: ${JSON.stringify(value.slice(0, 200))}`;
  }
  if (url.protocol === 'https:') return null;
  if (url.protocol === 'http:') return isLoopbackHost(url.hostname) ? null : PLAIN_HTTP_REFUSED;
  return `unsupported URL scheme ${url.protocol} (expected https://)`;
}
