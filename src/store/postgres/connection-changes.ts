/**
 * Who hears about connection changes in a PostgreSQL store: this process's listeners, told at
 * once of writes made through the store and, through the {@link ChangeFeed} (LISTEN/NOTIFY or
 * polling), of writes made by other nodes. A write made here is reported once: its NOTIFY echo
 * is recognised by its `change_seq`, whichever arrives first — the echo (delivered on commit,
 * possibly before the writing query has returned) or the write's own result.
 */
import type pg from 'pg';

import { ChangeFeed, CHANNEL } from './change-feed.js';

export interface ConnectionChangesOptions {
  connect: () => Promise<pg.Client>;
  query: <R extends pg.QueryResultRow>(sql: string, values: unknown[]) => Promise<pg.QueryResult<R>>;
  notify: boolean;
  pollMs: number;
  onTrouble?: (message: string) => void;
}

/** Bound on the remembered sequence numbers (a missed match costs one repeated report). */
const REMEMBERED = 10_000;

export class ConnectionChanges {
  private readonly listeners = new Set<(name: string) => void>();
  private feed: ChangeFeed | null = null;
  private started: Promise<void> = Promise.resolve();
  /** Own writes whose echo has not arrived yet. */
  private readonly own = new Set<number>();
  /** Echoes that arrived before their own write returned. */
  private readonly echoed = new Set<number>();

  constructor(private readonly opts: ConnectionChangesOptions) {}

  /** `WITH w AS (<write> RETURNING *) SELECT w.*` plus, if supported, the NOTIFY of each row. */
  notifying(write: string): string {
    return this.opts.notify
      ? `WITH w AS (${write} RETURNING *) SELECT w.*, pg_notify('${CHANNEL}', w.change_seq || ' ' || w.name) AS notified FROM w`
      : `${write} RETURNING *`;
  }

  /** A write made through this store committed: tell the listeners (unless its echo did). */
  changed(row: { name: string; change_seq?: number | string }): void {
    if (this.feed && row.change_seq !== undefined) {
      const seq = Number(row.change_seq);
      if (this.echoed.delete(seq)) return;
      remember(this.own, seq);
    }
    this.tell(row.name);
  }

  subscribe(listener: (name: string) => void): () => void {
    this.listeners.add(listener);
    if (!this.feed) this.startFeed();
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) void this.stop();
    };
  }

  async catchUp(): Promise<void> {
    await this.feed?.catchUp();
  }

  /** Resolves once changes committed from now on will be reported (the LISTEN is in place). */
  ready(): Promise<void> {
    return this.started;
  }

  async stop(): Promise<void> {
    const feed = this.feed;
    this.feed = null;
    this.own.clear();
    this.echoed.clear();
    if (feed) await feed.stop();
  }

  async close(): Promise<void> {
    this.listeners.clear();
    await this.stop();
  }

  private startFeed(): void {
    const feed = new ChangeFeed({
      connect: this.opts.connect,
      query: this.opts.query,
      notify: this.opts.notify,
      pollMs: this.opts.pollMs,
      emit: (name, seq) => {
        if (seq !== null) {
          if (this.own.delete(seq)) return;
          remember(this.echoed, seq);
        }
        this.tell(name);
      },
      ...(this.opts.onTrouble !== undefined ? { onTrouble: this.opts.onTrouble } : {}),
    });
    this.feed = feed;
    this.started = feed
      .start()
      .catch((e: unknown) => this.opts.onTrouble?.(`change notification not started: ${(e as Error).message}`));
  }

  private tell(name: string): void {
    for (const listener of this.listeners) {
      try {
        listener(name);
      } catch {
        // A listener's failure is its own business; the write has committed.
      }
    }
  }
}

function remember(set: Set<number>, seq: number): void {
  if (set.size >= REMEMBERED) set.clear();
  set.add(seq);
}
