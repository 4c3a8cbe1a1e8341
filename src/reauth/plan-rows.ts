/**
 * The scheduler's copy of every connection's scheduling facts ({@link PlanRow}), in columns by
 * connection index: five times in one Float64Array (NaN: none), the version beside them, state
 * and token flags in bytes, and the rare learned lifetime and cause in sparse maps. About 60
 * bytes per connection against ~180 for an object with its boxed times — at 100,000
 * connections the difference is ~12 MB of live heap, and more of resident memory under the
 * daemon's heap growth (src/core/heap-policy.ts). `get` builds a short-lived PlanRow to plan with.
 */
import { CONNECTION_STATES, type ConnectionState } from '../core/types.js';
import type { ConnectionFacts, ConnectionRecord, LearnedLifetime } from '../store/types.js';
import type { PlanRow } from './schedule-plan.js';

/** Float64 columns per connection. */
const VERSION = 0;
const ACCESS_EXPIRES = 1;
const LAST_REFRESH = 2;
const NEXT_ATTEMPT = 3;
const REFRESH_EXPIRES = 4;
const GRANTED = 5;
const WIDTH = 6;

const NO_ROW = 255;
const HAS_ACCESS = 1;
const HAS_REFRESH = 2;

const STATE_CODE = new Map<string, number>(CONNECTION_STATES.map((s, i) => [s, i]));

function num(x: number | null): number {
  return x === null ? NaN : x;
}

function orNull(x: number): number | null {
  return Number.isNaN(x) ? null : x;
}

export class PlanRows {
  private readonly times: Float64Array;
  private readonly states: Uint8Array;
  private readonly flags: Uint8Array;
  /** A state this build does not know (a newer writer): kept as is. */
  private readonly otherStates = new Map<number, string>();
  private readonly lifetimes = new Map<number, LearnedLifetime>();
  private readonly causes = new Map<number, string>();

  constructor(size: number) {
    this.times = new Float64Array(size * WIDTH);
    this.states = new Uint8Array(size).fill(NO_ROW);
    this.flags = new Uint8Array(size);
  }

  has(i: number): boolean {
    return this.states[i] !== NO_ROW;
  }

  /** The row's version, or null when there is no row. */
  version(i: number): number | null {
    return this.has(i) ? (this.times[i * WIDTH + VERSION] as number) : null;
  }

  causeId(i: number): string | null {
    return this.causes.get(i) ?? null;
  }

  /** Remember the scheduling facts of a full row or a secret-free listing (null: no row). */
  set(i: number, r: ConnectionRecord | ConnectionFacts | null): void {
    this.lifetimes.delete(i);
    this.causes.delete(i);
    this.otherStates.delete(i);
    if (r === null) {
      this.states[i] = NO_ROW;
      return;
    }
    const t = this.times;
    const o = i * WIDTH;
    t[o + VERSION] = r.version;
    t[o + ACCESS_EXPIRES] = num(r.accessExpiresAt);
    t[o + LAST_REFRESH] = num(r.lastRefreshAt);
    t[o + NEXT_ATTEMPT] = num(r.nextAttemptAt);
    t[o + REFRESH_EXPIRES] = num(r.refreshExpiresAt);
    t[o + GRANTED] = num(r.grantedAt);
    const facts = 'hasAccessToken' in r;
    const access = facts ? r.hasAccessToken : r.accessToken !== null && r.accessToken !== '';
    const refresh = facts ? r.hasRefreshToken : r.refreshToken !== null && r.refreshToken !== '';
    this.flags[i] = (access ? HAS_ACCESS : 0) | (refresh ? HAS_REFRESH : 0);
    const code = STATE_CODE.get(r.state);
    if (code === undefined) this.otherStates.set(i, r.state);
    this.states[i] = code ?? NO_ROW - 1;
    if (r.lifetime) this.lifetimes.set(i, r.lifetime);
    if (r.cause) this.causes.set(i, r.cause.id);
  }

  /** A PlanRow to plan with (built per call), or null when there is no row. */
  get(i: number): PlanRow | null {
    const code = this.states[i] as number;
    if (code === NO_ROW) return null;
    const t = this.times;
    const o = i * WIDTH;
    const flags = this.flags[i] as number;
    return {
      version: t[o + VERSION] as number,
      state: (CONNECTION_STATES[code] ?? this.otherStates.get(i)) as ConnectionState,
      hasAccessToken: (flags & HAS_ACCESS) !== 0,
      hasRefreshToken: (flags & HAS_REFRESH) !== 0,
      accessExpiresAt: orNull(t[o + ACCESS_EXPIRES] as number),
      lastRefreshAt: orNull(t[o + LAST_REFRESH] as number),
      nextAttemptAt: orNull(t[o + NEXT_ATTEMPT] as number),
      refreshExpiresAt: orNull(t[o + REFRESH_EXPIRES] as number),
      grantedAt: orNull(t[o + GRANTED] as number),
      lifetime: this.lifetimes.get(i) ?? null,
      causeId: this.causes.get(i) ?? null,
    };
  }
}
