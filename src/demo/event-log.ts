/**
 * Records a warden's events from the moment it is attached, so the tour can wait for "the
 * next event like this" without missing one that fired before it started waiting.
 */
import type { WardenEvent } from '../core/types.js';
import type { Warden } from '../warden.js';

export class EventLog {
  private readonly seen: WardenEvent[] = [];
  private readonly waiters = new Set<{
    after: number;
    match: (e: WardenEvent) => boolean;
    resolve: (e: WardenEvent) => void;
  }>();
  private readonly onEvent = (e: WardenEvent): void => {
    this.seen.push(e);
    for (const w of [...this.waiters])
      if (e.id > w.after && w.match(e)) {
        this.waiters.delete(w);
        w.resolve(e);
      }
  };

  constructor(private readonly warden: Warden) {
    warden.events.on('event', this.onEvent);
  }

  /** A position to wait from (the last event id seen): only later events count. */
  mark(): number {
    return this.seen.at(-1)?.id ?? 0;
  }

  /** The first event after `after` (an id from {@link mark}) matching `match`; rejects after `timeoutMs`. */
  waitFor(
    what: string,
    match: (e: WardenEvent) => boolean,
    opts: { after: number; timeoutMs: number },
  ): Promise<WardenEvent> {
    const past = this.seen.find((e) => e.id > opts.after && match(e));
    if (past) return Promise.resolve(past);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(w);
        reject(new Error(`no ${what} within ${Math.round(opts.timeoutMs / 1000)} s`));
      }, opts.timeoutMs);
      const w = {
        after: opts.after,
        match,
        resolve: (e: WardenEvent) => {
          clearTimeout(timer);
          resolve(e);
        },
      };
      this.waiters.add(w);
    });
  }

  detach(): void {
    this.warden.events.off('event', this.onEvent);
  }
}
