/**
 * Tells this process which connection rows other processes changed, incrementally: every
 * insert, version bump and delete takes the next `change_seq` in its own transaction (triggers
 * of migration 3), so a poll asks only for rows and tombstones numbered above the last one seen.
 * SQLite has one writer at a time, so numbers become visible in order and none is skipped.
 * `PRAGMA data_version` keeps a poll to one pragma while no other process committed.
 *
 * Writes made through this handle are reported by the store at once; their numbers are noted
 * here ({@link ownWrite}) so a later poll does not report them twice.
 */
import type { Db } from './db.js';

/** Rows per poll query: listeners run between pages, never inside an open statement. */
const PAGE_ROWS = 1000;

/** The change number of the newest committed (or, inside a write transaction, own) change. */
export function currentChangeSeq(db: Db): number {
  return (db.q(`SELECT seq FROM change_counter WHERE id = 1`).get() as { seq: number }).seq;
}

export class SqliteChangeFeed {
  /** Highest change number reported; null while stopped. */
  private watermark: number | null = null;
  private dataVersion = -1;
  /** Change numbers of this handle's own writes not yet passed by a poll. */
  private readonly own = new Set<number>();

  constructor(
    private readonly db: Db,
    private readonly emit: (name: string) => void,
  ) {}

  get running(): boolean {
    return this.watermark !== null;
  }

  /** Take the baseline: changes committed from now on are reported. */
  start(): void {
    this.dataVersion = this.db.raw.pragma('data_version', { simple: true }) as number;
    this.watermark = currentChangeSeq(this.db);
  }

  stop(): void {
    this.watermark = null;
    this.own.clear();
  }

  /** This handle committed change `seq` (and reported it itself). */
  ownWrite(seq: number | null): void {
    if (seq !== null && this.watermark !== null && seq > this.watermark) this.own.add(seq);
  }

  /** Report the changes other processes committed since the last poll. */
  poll(): void {
    if (this.watermark === null || !this.db.raw.open) return;
    const dataVersion = this.db.raw.pragma('data_version', { simple: true }) as number;
    if (dataVersion === this.dataVersion) return;
    this.dataVersion = dataVersion;
    const page = this.db.q(
      `SELECT name, change_seq AS seq FROM connections WHERE change_seq > ?
       UNION ALL SELECT name, seq FROM connection_deletions WHERE seq > ?
       ORDER BY seq LIMIT ${PAGE_ROWS}`,
    );
    for (;;) {
      const rows = page.all(this.watermark, this.watermark) as { name: string; seq: number }[];
      for (const r of rows) {
        this.watermark = r.seq;
        if (!this.own.delete(r.seq)) this.emit(r.name);
      }
      if (rows.length < PAGE_ROWS || this.watermark === null) break;
    }
    // Own numbers a poll passed without meeting were overwritten by a later change.
    for (const seq of this.own) if (this.watermark === null || seq <= this.watermark) this.own.delete(seq);
  }
}
