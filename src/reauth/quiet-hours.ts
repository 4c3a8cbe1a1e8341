/**
 * Quiet hours (`"22:00-07:30 Europe/Berlin"`): when a predicted, not-yet-dead expiry may not
 * disturb the human. Pure functions of a spec and an instant; the zone's wall clock comes from
 * `Intl.DateTimeFormat`, so daylight-saving changes are handled by the platform's tz database.
 * A dead credential never waits for quiet hours to end.
 */
import { ConfigError } from '../core/errors.js';

export interface QuietHours {
  /** Minutes after local midnight when quiet starts. */
  startMin: number;
  /** Minutes after local midnight when quiet ends (may be smaller than start: spans midnight). */
  endMin: number;
  /** IANA zone (default UTC). */
  timeZone: string;
}

const SPEC = /^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})(?: ([A-Za-z_]+(?:\/[A-Za-z_+-]+)*))?$/;

/** Parse `"HH:MM-HH:MM [Zone]"`; throws ConfigError naming what is wrong. */
export function parseQuietHours(spec: string, path = 'quiet_hours'): QuietHours {
  const m = SPEC.exec(spec.trim());
  if (!m) throw new ConfigError(`expected "HH:MM-HH:MM [IANA zone]", got "${spec}"`, { path });
  const [sh, sm, eh, em] = [m[1], m[2], m[3], m[4]].map(Number) as [number, number, number, number];
  if (sh > 23 || eh > 23 || sm > 59 || em > 59)
    throw new ConfigError(`hours must be 00-23 and minutes 00-59 ("${spec}")`, { path });
  const timeZone = m[5] ?? 'UTC';
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
  } catch {
    throw new ConfigError(`unknown time zone "${timeZone}"`, { path });
  }
  return { startMin: sh * 60 + sm, endMin: eh * 60 + em, timeZone };
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Wall-clock minutes after midnight (with fractional seconds) at `t` in `timeZone`. */
export function localMinutes(t: number, timeZone: string): number {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(timeZone, f);
  }
  let h = 0;
  let min = 0;
  let s = 0;
  for (const p of f.formatToParts(t)) {
    if (p.type === 'hour') h = Number(p.value) % 24;
    else if (p.type === 'minute') min = Number(p.value);
    else if (p.type === 'second') s = Number(p.value);
  }
  return h * 60 + min + (s + (((t % 1000) + 1000) % 1000) / 1000) / 60;
}

function inWindow(q: QuietHours, minutes: number): boolean {
  if (q.startMin === q.endMin) return false;
  return q.startMin < q.endMin
    ? minutes >= q.startMin && minutes < q.endMin
    : minutes >= q.startMin || minutes < q.endMin;
}

export function isQuiet(q: QuietHours | null, t: number): boolean {
  return q !== null && inWindow(q, localMinutes(t, q.timeZone));
}

/** Minutes from `from` forward to `to` on a 24 h dial. */
function forward(from: number, to: number): number {
  return (((to - from) % 1440) + 1440) % 1440;
}

/** The first instant at or after `t` that is outside quiet hours. */
export function nextAllowed(q: QuietHours | null, t: number): number {
  if (q === null) return t;
  let at = t;
  // Usually one step; a DST jump inside the window may need a second look.
  for (let i = 0; i < 3 && isQuiet(q, at); i++) {
    let cand = at + Math.round(forward(localMinutes(at, q.timeZone), q.endMin) * 60_000);
    // A DST change inside the window moves the wall clock: step back to the exact local end.
    const over = forward(q.endMin, localMinutes(cand, q.timeZone));
    if (over > 0 && over < 720) {
      const back = cand - Math.round(over * 60_000);
      if (back > at && !isQuiet(q, back)) cand = back;
    }
    at = cand;
  }
  return at;
}

/** When the quiet period containing (or next after) `t` starts; `t` itself if quiet now. */
function quietStartBefore(q: QuietHours, t: number): number {
  return t - Math.floor(forward(q.startMin, localMinutes(t, q.timeZone)) * 60_000);
}

/**
 * Move a planned time (a renewal before a predicted death) out of quiet hours: to the end of
 * the quiet period when that is still before `deadline`, else back to the last moment before
 * the period began. Outside quiet hours the time is kept.
 */
export function shiftOutOfQuiet(q: QuietHours | null, planned: number, deadline: number): number {
  if (q === null || !isQuiet(q, planned)) return planned;
  const after = nextAllowed(q, planned);
  if (after < deadline) return after;
  return quietStartBefore(q, planned) - 60_000;
}

/** What a renewal plan needs beside the predicted death. */
export interface RenewalFacts {
  /** When the current grant was consented. */
  grantedAt?: number | null | undefined;
  /** A learned lifetime (ms from consent) that applies to this connection (keeper/learned.ts). */
  learnedLifetimeMs?: number | null | undefined;
}

const DAY_MS = 86_400_000;

/**
 * When a renewal flow opens for a connection — the one plan shown by status, the dashboard, the
 * HTTP API and MCP, and followed by the scheduler: `reauth_lead` before the predicted
 * refresh-token death (at most a quarter of the grant's life, so a short-lived grant is not
 * renewed the moment it is consented), moved out of quiet hours (never past the death itself).
 * When the death comes from a learned lifetime of days and no quiet hours are set, the renewal is
 * asked at the time of day of the last consent — when the human was demonstrably awake.
 * Null when no death is predicted.
 */
export function plannedRenewalAt(
  conn: { kind: string; reauth_lead: number; quiet_hours?: string | undefined },
  refreshExpiresAt: number | null,
  quiet: QuietHours | null = conn.quiet_hours ? parseQuietHours(conn.quiet_hours) : null,
  facts: RenewalFacts = {},
): number | null {
  if (conn.kind !== 'oauth' || refreshExpiresAt === null) return null;
  const granted = facts.grantedAt ?? null;
  let lead = conn.reauth_lead;
  if (granted !== null && refreshExpiresAt > granted) lead = Math.min(lead, (refreshExpiresAt - granted) / 4);
  let planned = refreshExpiresAt - lead;
  const learned = facts.learnedLifetimeMs ?? null;
  if (quiet === null && granted !== null && learned !== null && refreshExpiresAt === granted + learned) {
    const days = Math.floor((planned - granted) / DAY_MS);
    if (days >= 1) planned = granted + days * DAY_MS;
  }
  return shiftOutOfQuiet(quiet, Math.round(planned), refreshExpiresAt);
}
