/**
 * Tells this process when a connection row changed on any node: PostgreSQL
 * LISTEN/NOTIFY on one dedicated connection, with polling of the `change_seq` column where
 * NOTIFY is unavailable (some PostgreSQL-compatible distributed SQL engines) or while the
 * listening connection is down. After a reconnect it catches up by polling once, so a change
 * made while it was away is still reported. Best effort: a consumer must re-read the store.
 *
 * Writers send `NOTIFY` in the same statement as their UPDATE, so it is delivered on commit
 * and never for a rolled-back change. Payload: `<change_seq> <name>`.
 *
 * Sequence numbers are taken when a row is written but become visible when its transaction
 * commits, so a lower number can appear after a higher one was read. A poll therefore does not
 * stop at the highest number seen: it re-reads from a floor that trails it by
 * {@link ChangeFeedOptions.trailMs} (a number taken that long ago has committed or never will:
 * every write is one short statement) and skips the numbers it already reported.
 */
import type pg from 'pg';

export const CHANNEL = 'tokenwarden_connections';

export interface ChangeFeedOptions {
  /** Opens a dedicated (non-pooled) client for LISTEN. */
  connect: () => Promise<pg.Client>;
  /** Runs a pooled query (for polling). */
  query: <R extends pg.QueryResultRow>(sql: string, values: unknown[]) => Promise<pg.QueryResult<R>>;
  /** Whether the server supports LISTEN/NOTIFY. */
  notify: boolean;
  /** Polling period when NOTIFY is unavailable or the listener is down. */
  pollMs: number;
  /** `seq` is the row's change_seq, if known. */
  emit: (name: string, seq: number | null) => void;
  /** Told about listener connection trouble (never contains secrets). */
  onTrouble?: (message: string) => void;
  /** How long a taken sequence number may stay uncommitted (default 30 s). */
  trailMs?: number;
}

/** Rows per poll query. */
const PAGE_ROWS = 1000;

/** How many of the newest sequence numbers a starting feed still watches for late commits. */
const START_WINDOW = 10_000;

export class ChangeFeed {
  private client: pg.Client | null = null;
  /** Every change numbered at or below it has been reported, or never will commit. */
  private floor = 0;
  /** Numbers above {@link floor} already reported. */
  private readonly reported = new Set<number>();
  /** [time, highest number seen by then]: the floor catches up with each after trailMs. */
  private readonly marks: Array<[number, number]> = [];
  private highest = 0;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private reconnectDelay = 100;

  constructor(private readonly opts: ChangeFeedOptions) {}

  async start(): Promise<void> {
    await this.baseline();
    if (this.opts.notify) await this.listen().catch(() => this.scheduleReconnect());
    else this.schedulePoll();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const c = this.client;
    this.client = null;
    if (c) await c.end().catch(() => undefined);
  }

  /**
   * Changes committed before start are not reported, but a write that took its number before
   * and commits after is: the newest {@link START_WINDOW} numbers stay above the floor (those
   * visible now count as reported) until the trailing window has passed.
   */
  private async baseline(): Promise<void> {
    const max = await this.maxSeq();
    const floor = Math.max(0, max - START_WINDOW);
    const r = await this.opts.query<{ change_seq: number | string }>(
      `SELECT change_seq FROM connections WHERE change_seq > $1`,
      [floor],
    );
    this.floor = floor;
    this.highest = max;
    for (const row of r.rows) this.reported.add(Number(row.change_seq));
    this.marks.push([Date.now(), max]);
  }

  private async maxSeq(): Promise<number> {
    const r = await this.opts.query<{ s: number | null }>(`SELECT MAX(change_seq) AS s FROM connections`, []);
    return Number(r.rows[0]?.s ?? 0);
  }

  private async listen(): Promise<void> {
    const client = await this.opts.connect();
    const lost = (why: string): void => {
      if (this.client !== client) return;
      this.client = null;
      client.removeAllListeners('notification');
      client.end().catch(() => undefined);
      this.opts.onTrouble?.(`change notification connection lost (${why}); polling until it is back`);
      this.scheduleReconnect();
    };
    // An unhandled 'error' on a pg client kills the process.
    client.on('error', (e: Error) => lost(e.message));
    client.on('end', () => lost('ended'));
    client.on('notification', (n) => this.onNotification(n.payload ?? ''));
    try {
      await client.query(`LISTEN ${CHANNEL}`);
    } catch (e) {
      await client.end().catch(() => undefined);
      throw e;
    }
    if (this.stopped) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.reconnectDelay = 100;
    // Changes committed while we were not listening.
    await this.poll().catch(() => undefined);
  }

  private onNotification(payload: string): void {
    const space = payload.indexOf(' ');
    if (space <= 0) return;
    const seq = Number(payload.slice(0, space));
    const name = payload.slice(space + 1);
    if (!Number.isFinite(seq)) return this.emitSafely(name, null);
    // A commit seen by a poll first is not reported again; one below the floor is late but real.
    if (this.reported.has(seq)) return;
    this.note(seq);
    this.advanceFloor();
    this.emitSafely(name, seq);
  }

  /** Remember a reported number (and when it was the highest seen). */
  private note(seq: number): void {
    if (seq > this.floor) this.reported.add(seq);
    if (seq <= this.highest) return;
    this.highest = seq;
    const now = Date.now();
    const last = this.marks[this.marks.length - 1];
    if (last && last[0] > now - 1_000)
      last[1] = seq; // one mark per second at most
    else this.marks.push([now, seq]);
  }

  private advanceFloor(): void {
    const now = Date.now();
    const trailMs = this.opts.trailMs ?? 30_000;
    let floor = this.floor;
    while (this.marks.length > 0 && (this.marks[0] as [number, number])[0] <= now - trailMs)
      floor = Math.max(floor, (this.marks.shift() as [number, number])[1]);
    if (floor === this.floor) return;
    this.floor = floor;
    for (const s of this.reported) if (s <= floor) this.reported.delete(s);
  }

  private emitSafely(name: string, seq: number | null): void {
    try {
      this.opts.emit(name, seq);
    } catch {
      // A listener's failure is its own business.
    }
  }

  /** Report now what was committed since the last report (a caller about to act on fresh state). */
  catchUp(): Promise<void> {
    return this.stopped ? Promise.resolve() : this.poll();
  }

  private async poll(): Promise<void> {
    this.advanceFloor();
    let after = this.floor;
    for (;;) {
      const r = await this.opts.query<{ name: string; change_seq: number | string }>(
        `SELECT name, change_seq FROM connections WHERE change_seq > $1 ORDER BY change_seq LIMIT ${PAGE_ROWS}`,
        [after],
      );
      for (const row of r.rows) {
        const seq = Number(row.change_seq);
        after = seq;
        if (seq <= this.floor || this.reported.has(seq)) continue;
        this.note(seq);
        this.emitSafely(row.name, seq);
      }
      if (r.rows.length < PAGE_ROWS) return;
    }
  }

  private schedulePoll(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.poll()
        .catch(() => undefined)
        .finally(() => this.schedulePoll());
    }, this.opts.pollMs);
    this.timer.unref();
  }

  /** Poll while the listener is down; try to LISTEN again with backoff up to the poll period. */
  private scheduleReconnect(): void {
    if (this.stopped || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.poll()
        .catch(() => undefined)
        .then(() => this.listen())
        .catch(() => {
          this.reconnectDelay = Math.min(this.reconnectDelay * 2, this.opts.pollMs);
          this.scheduleReconnect();
        });
    }, this.reconnectDelay);
    this.timer.unref();
  }
}

/** Whether this server accepts NOTIFY (some PostgreSQL-compatible engines do not): else the feed polls. */
export async function supportsNotify(c: pg.ClientBase): Promise<boolean> {
  try {
    await c.query(`SELECT pg_notify('${CHANNEL}_probe', '')`);
    return true;
  } catch {
    return false;
  }
}
