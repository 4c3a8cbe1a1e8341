/**
 * Group commit for the SQLite store's writes that many callers make at once (outbox rows and
 * events). See {@link GroupCommit.write}.
 */
import type Database from 'better-sqlite3';
import { StoreError } from '../../core/errors.js';

/** A group waits for more writes at most this long (ms)... */
const GROUP_MAX_WAIT_MS = 10;
/** ...and not at all when nothing was committed for this long (ms): a lone write. */
const GROUP_IDLE_MS = 50;

interface PendingWrite {
  fn: () => unknown;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

export class GroupCommit {
  /** Writes waiting for the next group commit. */
  private pending: PendingWrite[] = [];
  private flushScheduled = false;
  /** Timer of a flush deferred to let a group fill. */
  private flushTimer: NodeJS.Timeout | null = null;
  /** Writes in `pending` that are not events riding along with another write. */
  private pendingWriters = 0;
  /** Largest recent group in writers (fading), how long the last COMMIT blocked (ms) and when it ended. */
  private groupSize = 1;
  private commitMs = 0;
  private lastCommitAt = -Infinity;

  constructor(
    private readonly db: Database.Database,
    private readonly toError: (e: unknown) => Error,
  ) {}

  /**
   * Group commit for the writes many callers make at once (outbox rows and events): queued
   * writes run in one immediate transaction, each inside its own savepoint (a failing one is
   * rolled back alone and rejects alone), and every promise settles only after the COMMIT — as
   * durable as one transaction each, with one fsync for the group instead of one per write.
   *
   * better-sqlite3 blocks the loop while it syncs, so when to commit matters: a lone writer
   * commits at the next turn of the event loop; under concurrency (recent groups were larger)
   * a group waits — at most as long as the last COMMIT took, and never past 10 ms — until it is
   * as large as recent ones, so that eight senders share one fsync instead of each paying for
   * their own while the others' SMTP answers wait behind it. Group sizes count writers, not
   * writes: an event (`ridesAlong`) usually accompanies the outbox update issued with it.
   */
  write<T>(fn: () => T, ridesAlong = false): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      if (!ridesAlong) this.pendingWriters++;
      const idle = performance.now() - this.lastCommitAt > GROUP_IDLE_MS;
      const full = idle || this.pendingWriters >= Math.floor(this.groupSize);
      if (this.flushTimer && full) {
        clearTimeout(this.flushTimer);
        this.flushTimer = null;
        setImmediate(() => this.flush());
      } else if (!this.flushScheduled) {
        this.flushScheduled = true;
        if (full) setImmediate(() => this.flush());
        else
          this.flushTimer = setTimeout(
            () => {
              this.flushTimer = null;
              this.flush();
            },
            Math.min(this.commitMs, GROUP_MAX_WAIT_MS),
          );
      }
    });
  }

  flush(): void {
    this.flushScheduled = false;
    if (this.flushTimer) {
      clearTimeout(this.flushTimer);
      this.flushTimer = null;
    }
    const batch = this.pending;
    const writers = this.pendingWriters;
    this.pending = [];
    this.pendingWriters = 0;
    if (batch.length === 0) return;
    const t0 = performance.now();
    try {
      this.commit(batch);
    } finally {
      this.lastCommitAt = performance.now();
      this.commitMs = this.lastCommitAt - t0;
      // The largest recent group, fading by a tenth per commit.
      this.groupSize = Math.max(1, writers, this.groupSize * 0.9);
    }
  }

  private commit(batch: PendingWrite[]): void {
    if (!this.db.open) {
      for (const op of batch) op.reject(new StoreError('SQLite store is closed'));
      return;
    }
    const results = commitBatch(
      this.db,
      batch.map((op) => op.fn),
      this.toError,
    );
    batch.forEach((op, i) => {
      const r = results[i] as WriteResult;
      if (r.ok) op.resolve(r.value);
      else op.reject(r.error);
    });
  }
}

export type WriteResult = { ok: true; value: unknown } | { ok: false; error: Error };

/**
 * Run `writes` in one immediate transaction, each inside its own savepoint (a failing one is
 * rolled back alone and fails alone), then COMMIT: one fsync for all of them. If the
 * transaction itself fails (BEGIN or COMMIT), every write fails with that error.
 */
export function commitBatch(
  db: Database.Database,
  writes: ReadonlyArray<() => unknown>,
  toError: (e: unknown) => Error,
): WriteResult[] {
  const results: WriteResult[] = [];
  try {
    db.transaction(() => {
      for (const fn of writes) {
        try {
          // Nested: better-sqlite3 wraps it in a savepoint.
          results.push({ ok: true, value: db.transaction(fn)() });
        } catch (e) {
          results.push({ ok: false, error: toError(e) });
        }
      }
    }).immediate();
  } catch (e) {
    const error = toError(e);
    return writes.map(() => ({ ok: false, error }));
  }
  return results;
}
