/**
 * A circuit breaker per route (pure: state + a Clock, no I/O).
 *
 * closed ──auth failure / connection needs a human──▶ open ──cool-down──▶ half_open
 * half_open ──success──▶ closed;  half_open ──auth failure──▶ open (cool-down doubles, capped)
 *
 * Transient failures do not open the circuit (the credential is fine, the provider is busy);
 * they only park the route until a Retry-After, if the provider gave one.
 */
import type { Clock } from '../core/clock.js';

export type CircuitState = 'closed' | 'open' | 'half_open';

export interface CircuitSnapshot {
  state: CircuitState;
  /** Why it opened (never a secret). */
  reason: string | null;
  openedAt: number | null;
  /** When an open circuit lets one attempt through (half-open). */
  retryAt: number | null;
  /** Route parked by Retry-After until this time (circuit may still be closed). */
  notBefore: number | null;
  consecutiveAuthFailures: number;
}

export interface CircuitOptions {
  /** First cool-down after opening (default 60 s). */
  coolDownMs?: number;
  /** Cap for the doubling cool-down (default 15 min). */
  maxCoolDownMs?: number;
}

export type CircuitTransition = 'opened' | 'closed' | 'half_opened' | null;

export class CircuitBreaker {
  private s: CircuitSnapshot = {
    state: 'closed',
    reason: null,
    openedAt: null,
    retryAt: null,
    notBefore: null,
    consecutiveAuthFailures: 0,
  };
  private readonly coolDownMs: number;
  private readonly maxCoolDownMs: number;

  constructor(
    private readonly clock: Clock,
    opts: CircuitOptions = {},
  ) {
    this.coolDownMs = opts.coolDownMs ?? 60_000;
    this.maxCoolDownMs = opts.maxCoolDownMs ?? 15 * 60_000;
  }

  snapshot(): CircuitSnapshot {
    this.tick();
    return { ...this.s };
  }

  get state(): CircuitState {
    this.tick();
    return this.s.state;
  }

  /** May a send/read be attempted now? (closed and not parked, or half-open). */
  allows(): boolean {
    this.tick();
    if (this.s.state === 'open') return false;
    return this.s.notBefore === null || this.clock.now() >= this.s.notBefore;
  }

  /** An auth failure: open (or re-open) with a doubling cool-down. Returns 'opened' if it was not open. */
  recordAuthFailure(reason: string): CircuitTransition {
    const was = this.s.state;
    const n = this.s.consecutiveAuthFailures + 1;
    const cool = Math.min(this.maxCoolDownMs, this.coolDownMs * 2 ** Math.min(n - 1, 20));
    const now = this.clock.now();
    this.s = {
      state: 'open',
      reason,
      openedAt: was === 'open' ? (this.s.openedAt ?? now) : now,
      retryAt: now + cool,
      notBefore: null,
      consecutiveAuthFailures: n,
    };
    return was === 'closed' ? 'opened' : null;
  }

  /** The connection behind the route is known to need a human: open without spending an attempt. */
  forceOpen(reason: string): CircuitTransition {
    if (this.s.state === 'open') return null;
    return this.recordAuthFailure(reason);
  }

  /** The connection is known healthy again: let the next attempt through at once. */
  halfOpenNow(): CircuitTransition {
    if (this.s.state !== 'open') return null;
    this.s = { ...this.s, state: 'half_open', retryAt: null };
    return 'half_opened';
  }

  recordSuccess(): CircuitTransition {
    const was = this.s.state;
    this.s = {
      state: 'closed',
      reason: null,
      openedAt: null,
      retryAt: null,
      notBefore: null,
      consecutiveAuthFailures: 0,
    };
    return was === 'closed' ? null : 'closed';
  }

  /** A transient failure: the circuit stays as it is; Retry-After parks the route. */
  recordTransient(retryAfterMs: number | undefined): void {
    if (retryAfterMs !== undefined && retryAfterMs > 0) this.s.notBefore = this.clock.now() + retryAfterMs;
  }

  private tick(): void {
    if (this.s.state === 'open' && this.s.retryAt !== null && this.clock.now() >= this.s.retryAt) {
      this.s = { ...this.s, state: 'half_open', retryAt: null };
    }
  }
}
