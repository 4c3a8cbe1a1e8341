/**
 * Time is a dependency: everything that reads the time or waits takes a {@link Clock}, so
 * expiry, leases, quiet hours and reminders are testable in milliseconds with {@link FakeClock}.
 */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  /** Resolves after `ms` (or rejects with the signal's reason when aborted). */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason as Error);
        return;
      }
      const t = setTimeout(
        () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        Math.max(0, ms),
      );
      const onAbort = (): void => {
        clearTimeout(t);
        reject(signal?.reason as Error);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

interface Sleeper {
  at: number;
  resolve: () => void;
  reject: (e: unknown) => void;
}

/** A clock that only moves when told to. `advance()` wakes sleepers in time order. */
export class FakeClock implements Clock {
  private t: number;
  private sleepers: Sleeper[] = [];
  constructor(start = Date.UTC(2026, 0, 1)) {
    this.t = start;
  }
  now(): number {
    return this.t;
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason as Error);
        return;
      }
      const s: Sleeper = { at: this.t + Math.max(0, ms), resolve, reject };
      this.sleepers.push(s);
      signal?.addEventListener(
        'abort',
        () => {
          this.sleepers = this.sleepers.filter((x) => x !== s);
          reject(signal.reason as Error);
        },
        { once: true },
      );
    });
  }
  /** Number of pending sleepers (lets tests wait until a loop is parked). */
  get pending(): number {
    return this.sleepers.length;
  }
  /** Move time forward, resolving due sleepers in order; yields to the event loop between them. */
  async advance(ms: number): Promise<void> {
    const target = this.t + ms;
    for (;;) {
      this.sleepers.sort((a, b) => a.at - b.at);
      const next = this.sleepers[0];
      if (!next || next.at > target) break;
      this.sleepers.shift();
      this.t = Math.max(this.t, next.at);
      next.resolve();
      await new Promise((r) => setImmediate(r));
    }
    this.t = target;
    await new Promise((r) => setImmediate(r));
  }
  set(t: number): void {
    this.t = t;
  }
}
