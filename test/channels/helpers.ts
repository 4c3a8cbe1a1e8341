import { EventEmitter } from 'node:events';
import { FakeClock } from '../../src/core/clock.js';
import type { Logger } from '../../src/core/logger.js';

/** A FakeClock that tells the test when code under test starts waiting on it, and for how long. */
export class WatchedClock extends FakeClock {
  readonly sleeps: number[] = [];
  private readonly events = new EventEmitter();
  override sleep(ms: number, signal?: AbortSignal): Promise<void> {
    const p = super.sleep(ms, signal);
    this.sleeps.push(ms);
    this.events.emit('sleep', ms);
    return p;
  }
  /** Resolves with the duration of the `n`-th sleep (1-based), already started or future. */
  nthSleep(n: number, timeoutMs = 5000): Promise<number> {
    const have = this.sleeps[n - 1];
    if (have !== undefined) return Promise.resolve(have);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.events.off('sleep', on);
        reject(new Error(`no sleep #${n} within ${timeoutMs} ms`));
      }, timeoutMs);
      const on = (): void => {
        const ms = this.sleeps[n - 1];
        if (ms === undefined) return;
        clearTimeout(timer);
        this.events.off('sleep', on);
        resolve(ms);
      };
      this.events.on('sleep', on);
    });
  }
}

/** A logger that keeps every line (to check nothing secret was logged). */
export function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const log =
    (level: string) =>
    (msg: string, fields?: Record<string, unknown>): void => {
      lines.push(`${level} ${msg} ${fields ? JSON.stringify(fields) : ''}`);
    };
  return { lines, debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}

/** A promise with its resolve function exposed. */
export function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}
