/**
 * The local login check of a mail proxy: the client's password (and user name, when one is
 * configured) compared in constant time, with failures rate-limited per client address.
 *
 * Each address has a small budget of failed logins that refills over time. While the budget
 * is spent, that address's logins, right or wrong, are checked one at a time with a pause
 * before each answer: guessing slows to one try per pause however many connections an
 * attacker opens, and the right password still gets in (after the attempts queued before it),
 * so a guesser never locks the real client out.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../core/clock.js';

export interface AuthGateOptions {
  password: string;
  /** When set, the user name must match too (case-sensitive). */
  username?: string | undefined;
  clock: Clock;
  /** Failed logins an address may make before the pause applies (default 5). */
  burst?: number;
  /** One failure is forgiven per this many ms (default 30 s). */
  refillMs?: number;
  /** Pause before each answer while an address is over budget (default 1 s). */
  penaltyMs?: number;
}

interface SourceState {
  tokens: number;
  at: number;
  /** Checks of this address run in this order while it is over budget. */
  chain: Promise<void>;
  pending: number;
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

export class AuthGate {
  private readonly password: Buffer;
  private readonly username: Buffer | undefined;
  private readonly burst: number;
  private readonly refillMs: number;
  private readonly penaltyMs: number;
  private readonly sources = new Map<string, SourceState>();

  constructor(private readonly o: AuthGateOptions) {
    this.password = digest(o.password);
    this.username = o.username === undefined ? undefined : digest(o.username);
    this.burst = o.burst ?? 5;
    this.refillMs = o.refillMs ?? 30_000;
    this.penaltyMs = o.penaltyMs ?? 1_000;
  }

  /** Constant-time comparison of the credentials (no rate limit). */
  matches(username: string, password: string): boolean {
    const userOk = this.username === undefined ? true : timingSafeEqual(digest(username), this.username);
    const passOk = timingSafeEqual(digest(password), this.password);
    return userOk && passOk;
  }

  /** Check a login from `source` (the client's address), pausing first when that address is over budget. */
  async check(source: string, username: string, password: string): Promise<boolean> {
    const s = this.state(source);
    if (s.tokens >= 1 && s.pending === 0) return this.judge(s, username, password);
    s.pending++;
    const turn = s.chain.then(() => this.o.clock.sleep(this.penaltyMs));
    s.chain = turn.catch(() => undefined);
    try {
      await turn;
    } finally {
      s.pending--;
    }
    return this.judge(s, username, password);
  }

  /** Addresses currently over budget (for tests and status). */
  throttled(): string[] {
    return [...this.sources.entries()].filter(([, s]) => this.refill(s) < 1).map(([k]) => k);
  }

  private judge(s: SourceState, username: string, password: string): boolean {
    const ok = this.matches(username, password);
    if (!ok) {
      this.refill(s);
      s.tokens = Math.max(0, s.tokens - 1);
    }
    return ok;
  }

  private refill(s: SourceState): number {
    const now = this.o.clock.now();
    s.tokens = Math.min(this.burst, s.tokens + (now - s.at) / this.refillMs);
    s.at = now;
    return s.tokens;
  }

  private state(source: string): SourceState {
    let s = this.sources.get(source);
    if (!s) {
      if (this.sources.size >= 10_000) this.forgetIdle();
      s = { tokens: this.burst, at: this.o.clock.now(), chain: Promise.resolve(), pending: 0 };
      this.sources.set(source, s);
    } else {
      this.refill(s);
    }
    return s;
  }

  /** Drop addresses with a full budget and nothing queued (bounded memory under many sources). */
  private forgetIdle(): void {
    for (const [k, s] of this.sources) if (s.pending === 0 && this.refill(s) >= this.burst) this.sources.delete(k);
  }
}
