/**
 * The embedded {@link Store}: one SQLite file in WAL mode via better-sqlite3.
 *
 * - Durability: WAL with `synchronous=FULL` by default, so a committed (rotated) refresh token
 *   survives kill -9 and power loss; `normal` survives process crashes only and is faster.
 * - Concurrency: several processes may share the file. Leases are conditional UPDATEs;
 *   read-check-write sequences run in `BEGIN IMMEDIATE` transactions so they hold the write
 *   lock from their first read (no stale-snapshot upgrades), and `busy_timeout` waits for it.
 * - Secrets are sealed per row and column (../codec.ts). A key-check record in `meta` makes a
 *   wrong key fail at open, before anything is written.
 * - Change notification: in-process at once; from other processes by polling the change
 *   sequence (change-feed.ts) while anyone listens: one `PRAGMA data_version` when nothing was
 *   committed elsewhere, else only the rows changed since the last poll.
 *
 * Table logic lives in connections.ts, flows.ts and outbox.ts; this class opens, wraps each
 * call in a promise (and a transaction where needed) and notifies.
 */
import Database from 'better-sqlite3';

import { KeyError, StoreError, TokenwardenError } from '../../core/errors.js';
import type { NewEvent, WardenEvent } from '../../core/types.js';
import type {
  ConnectionFacts,
  ConnectionPatch,
  ConnectionRecord,
  FlowPatch,
  FlowRecord,
  FlowStatus,
  NewFlow,
  NewOutboxMessage,
  OutboxPatch,
  OutboxRecord,
  OutboxStats,
  OutboxStatus,
  Sealer,
  Store,
} from '../types.js';
import { currentChangeSeq, SqliteChangeFeed } from './change-feed.js';
import * as connections from './connections.js';
import { Db } from './db.js';
import { OutboxWrites } from './outbox-writes.js';
import type { WriterInit } from './writer-protocol.js';
import * as flows from './flows.js';
import { assertSchemaNotNewer, migrate } from './migrations.js';
import * as outbox from './outbox.js';
import { pageLimit } from '../paging.js';
import { KEY_CHECK_ROW, keyCheckOpens, SEALED_TABLES, sealKeyCheck, SwitchableSealer } from '../codec.js';
import { RESEAL_PAGE_ROWS, resealRow, resealStatements, type SealedRow } from '../sealed-pages.js';

export interface SqliteStoreOptions {
  sealer: Sealer;
  /** How the key was named (`file:…`, `env:…`), for error messages only. */
  keySpec: string;
  /** `full` (default) also survives power loss; `normal` survives process crashes. */
  synchronous?: 'full' | 'normal';
  busyTimeoutMs?: number;
  /** How often to look for changes by other processes while listeners exist (default 1000; 0: never). */
  pollMs?: number;
}

function toStoreError(e: unknown): Error {
  if (e instanceof TokenwardenError) return e;
  const message = e instanceof Error ? e.message : String(e);
  // SQLite messages never contain bound values, so they are safe to pass on.
  return new StoreError(`SQLite store: ${message}`, { cause: e });
}

export class SqliteStore implements Store {
  readonly kind = 'sqlite';
  private readonly listeners = new Set<(name: string) => void>();
  private timer: NodeJS.Timeout | null = null;
  /** Changes committed by other processes (change-feed.ts); running while anyone listens. */
  private readonly feed: SqliteChangeFeed;
  /** Outbox rows and events: group commits, on the writer thread for a file (outbox-writes.ts). */
  private readonly writes: OutboxWrites;

  private constructor(
    private readonly db: Db,
    private readonly sealer: SwitchableSealer,
    private readonly pollMs: number,
    private readonly keySpec: string,
    writer: WriterInit | null,
  ) {
    this.writes = new OutboxWrites(db, toStoreError, writer);
    this.feed = new SqliteChangeFeed(db, (name) => this.notify(name));
  }

  /**
   * Open (creating and migrating if needed) the store at `file` (`:memory:` for a private
   * in-memory store). Throws StoreError for a schema newer than this code or an unreadable file,
   * KeyError if `sealer` does not hold the key the store was created with.
   */
  static open(file: string, opts: SqliteStoreOptions): SqliteStore {
    let raw: Database.Database;
    try {
      raw = new Database(file, { timeout: opts.busyTimeoutMs ?? 5000 });
    } catch (e) {
      throw new StoreError(`cannot open SQLite store ${file}: ${(e as Error).message}`, { cause: e });
    }
    try {
      raw.pragma('journal_mode = WAL');
      raw.pragma(`synchronous = ${opts.synchronous === 'normal' ? 'NORMAL' : 'FULL'}`);
      // Refuse before writing anything: a newer schema or a different key means hands off.
      assertSchemaNotNewer(raw, file);
      verifyKeyCheck(raw, opts, false);
      migrate(raw, file, Date.now(), (tx) => {
        tx.prepare(`INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)`).run(
          KEY_CHECK_ROW,
          sealKeyCheck(opts.sealer),
        );
      });
      verifyKeyCheck(raw, opts, true);
    } catch (e) {
      raw.close();
      throw toStoreError(e);
    }
    const sealer = new SwitchableSealer(opts.sealer);
    const writer: WriterInit | null =
      file === ':memory:' || file === ''
        ? null
        : {
            file,
            synchronous: opts.synchronous === 'normal' ? 'NORMAL' : 'FULL',
            busyTimeoutMs: opts.busyTimeoutMs ?? 5000,
          };
    return new SqliteStore(new Db(raw, sealer), sealer, opts.pollMs ?? 1000, opts.keySpec, writer);
  }

  checkKey(): Promise<void> {
    return this.run(() => verifyKeyCheck(this.db.raw, { sealer: this.sealer, keySpec: this.keySpec }, true));
  }

  reseal(to: Sealer, opts: { pageRows?: number } = {}): Promise<number> {
    return this.writes.quiesce(() => this.run(() => this.resealNow(to, opts)));
  }

  /**
   * {@link reseal}, synchronously: one `BEGIN IMMEDIATE` transaction (other writers wait), each
   * table of the codec's registry read a page at a time in row-key order.
   */
  resealNow(to: Sealer, opts: { pageRows?: number } = {}): number {
    this.writes.flushInProcess(); // writes already accepted are sealed with the current key, then re-sealed
    const pageRows = Math.max(1, Math.floor(opts.pageRows ?? RESEAL_PAGE_ROWS));
    const from = this.sealer.inner;
    let count = 0;
    try {
      this.db.raw
        .transaction(() => {
          for (const table of SEALED_TABLES) {
            const sql = resealStatements(table, () => '?');
            const first = this.db.raw.prepare(sql.first);
            const next = this.db.raw.prepare(sql.next);
            const update = this.db.raw.prepare(sql.update);
            let after: string | null = null;
            for (;;) {
              const page = (after === null ? first.all(pageRows) : next.all(after, pageRows)) as SealedRow[];
              for (const row of page) {
                const r = resealRow(from, to, table, row);
                count += r.count;
                update.run(...r.values, row.k);
              }
              if (page.length < pageRows) break;
              after = String((page[page.length - 1] as SealedRow).k);
            }
          }
        })
        .immediate();
    } catch (e) {
      throw toStoreError(e);
    }
    this.sealer.use(to);
    return count;
  }

  /** Run `fn` synchronously (in an immediate transaction if `tx`), translating SQLite errors. */
  private run<T>(fn: () => T, tx = false): Promise<T> {
    try {
      return Promise.resolve(tx ? this.db.raw.transaction(fn).immediate() : fn());
    } catch (e) {
      return Promise.reject(toStoreError(e));
    }
  }

  // ------------------------------------------------------------------ connections

  getConnection(name: string): Promise<ConnectionRecord | null> {
    return this.run(() => connections.getConnection(this.db, name));
  }

  listConnections(): Promise<ConnectionRecord[]> {
    return this.run(() => connections.listConnections(this.db));
  }

  pageConnections(opts: { after?: string | null; limit: number }): Promise<ConnectionRecord[]> {
    return this.run(() => connections.pageConnections(this.db, opts.after ?? null, pageLimit(opts.limit)));
  }

  listConnectionFacts(): Promise<ConnectionFacts[]> {
    return this.run(() => connections.listConnectionFacts(this.db));
  }

  forEachConnectionFacts(visit: (facts: ConnectionFacts) => void): Promise<void> {
    return this.run(() => connections.forEachConnectionFacts(this.db, visit));
  }

  connectionVersions(): Promise<Map<string, number>> {
    return this.run(() => connections.connectionVersions(this.db));
  }

  forEachConnectionVersion(visit: (name: string, version: number) => void): Promise<void> {
    return this.run(() => connections.forEachConnectionVersion(this.db, visit));
  }

  async ensureConnection(name: string, now: number): Promise<ConnectionRecord> {
    const { record, created, seq } = await this.run(() => {
      const r = connections.ensureConnection(this.db, name, now);
      return { ...r, seq: r.created ? currentChangeSeq(this.db) : null };
    }, true);
    if (created) this.changed(name, seq);
    return record;
  }

  async updateConnection(
    name: string,
    patch: ConnectionPatch,
    opts: { now: number; expectVersion?: number; leaseOwner?: string },
  ): Promise<ConnectionRecord> {
    const { record, seq } = await this.run(
      () => ({ record: connections.updateConnection(this.db, name, patch, opts), seq: currentChangeSeq(this.db) }),
      true,
    );
    this.changed(name, seq);
    return record;
  }

  acquireRefreshLease(name: string, owner: string, ttlMs: number, now: number): Promise<ConnectionRecord | null> {
    return this.run(() => connections.acquireRefreshLease(this.db, name, owner, ttlMs, now), true);
  }

  releaseRefreshLease(name: string, owner: string): Promise<void> {
    return this.run(() => connections.releaseRefreshLease(this.db, name, owner));
  }

  async deleteConnection(name: string): Promise<void> {
    const seq = await this.run(
      () => (connections.deleteConnection(this.db, name) ? currentChangeSeq(this.db) : null),
      true,
    );
    if (seq !== null) this.changed(name, seq);
  }

  // ------------------------------------------------------------------ flows and events

  createFlow(flow: NewFlow): Promise<FlowRecord> {
    return this.run(() => flows.createFlow(this.db, flow));
  }

  getFlow(id: string): Promise<FlowRecord | null> {
    return this.run(() => flows.getFlow(this.db, id));
  }

  findFlowByState(state: string): Promise<FlowRecord | null> {
    return this.run(() => flows.findFlowByState(this.db, state));
  }

  listOpenFlows(connection?: string): Promise<FlowRecord[]> {
    return this.run(() => flows.listOpenFlows(this.db, connection));
  }

  listFlows(opts: { connection?: string; limit?: number } = {}): Promise<FlowRecord[]> {
    return this.run(() => flows.listFlows(this.db, opts));
  }

  updateFlow(id: string, patch: FlowPatch): Promise<FlowRecord> {
    return this.run(() => flows.updateFlow(this.db, id, patch), true);
  }

  finishFlow(id: string, status: Exclude<FlowStatus, 'open'>, now: number, outcome: string | null): Promise<boolean> {
    return this.run(() => flows.finishFlow(this.db, id, status, now, outcome));
  }

  appendEvent(event: NewEvent, now: number): Promise<WardenEvent> {
    return this.writes.event(event, now);
  }

  listEvents(
    opts: { since?: number; connection?: string; limit?: number; newestFirst?: boolean } = {},
  ): Promise<WardenEvent[]> {
    return this.run(() => flows.listEvents(this.db, opts));
  }

  pruneEvents(opts: { before: number; keep: number; chunk?: number }): Promise<number> {
    return this.run(() => flows.pruneEvents(this.db, opts));
  }

  // ------------------------------------------------------------------ outbox and leader leases

  enqueueMessage(
    msg: NewOutboxMessage,
    now: number,
    opts: { claim?: { owner: string; leaseMs: number } } = {},
  ): Promise<{ record: OutboxRecord; created: boolean }> {
    return this.writes.enqueue(msg, now, opts.claim);
  }

  getMessage(id: string): Promise<OutboxRecord | null> {
    return this.run(() => outbox.getMessage(this.db, id));
  }

  claimMessages(opts: {
    owner: string;
    now: number;
    leaseMs: number;
    limit: number;
    mailbox?: string;
    id?: string;
  }): Promise<OutboxRecord[]> {
    return this.writes.claim(opts);
  }

  updateMessage(id: string, patch: OutboxPatch, opts: { owner?: string }): Promise<OutboxRecord | null> {
    return this.writes.update(id, patch, opts);
  }

  listMessages(opts: { mailbox?: string; status?: OutboxStatus; limit?: number } = {}): Promise<OutboxRecord[]> {
    return this.run(() => outbox.listMessages(this.db, opts));
  }

  outboxStats(mailbox?: string): Promise<OutboxStats> {
    return this.run(() => outbox.outboxStats(this.db, mailbox));
  }

  acquireLease(key: string, owner: string, ttlMs: number, now: number): Promise<boolean> {
    return this.run(() => outbox.acquireLease(this.db, key, owner, ttlMs, now));
  }

  releaseLease(key: string, owner: string): Promise<void> {
    return this.run(() => outbox.releaseLease(this.db, key, owner));
  }

  getLease(key: string): Promise<{ owner: string; until: number } | null> {
    return this.run(() => outbox.getLease(this.db, key));
  }

  // ------------------------------------------------------------------ change notification

  /**
   * `listener(name)` runs after this store changes a connection row, and — via
   * {@link pollChanges}, every `pollMs` while anyone listens — after other processes do.
   */
  onConnectionChanged(listener: (name: string) => void): () => void {
    this.listeners.add(listener);
    if (!this.feed.running) this.feed.start(); // baseline
    if (this.timer === null && this.pollMs > 0) {
      this.timer = setInterval(() => {
        try {
          this.pollChanges();
        } catch {
          // Busy or closing: the next tick tries again.
        }
      }, this.pollMs);
      this.timer.unref();
    }
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.stopPolling();
    };
  }

  catchUpChanges(): Promise<void> {
    if (this.listeners.size > 0) this.pollChanges();
    return Promise.resolve();
  }

  /**
   * Notify listeners of connection rows changed by other processes since the last call. Costs
   * one `PRAGMA data_version` when nothing was committed elsewhere, else one indexed read of the
   * rows changed since.
   */
  pollChanges(): void {
    this.feed.poll();
  }

  private changed(name: string, seq: number | null): void {
    this.feed.ownWrite(seq); // the next poll does not report it again
    this.notify(name);
  }

  private notify(name: string): void {
    for (const listener of this.listeners) {
      try {
        listener(name);
      } catch {
        // A listener's failure is its own business; the write has committed.
      }
    }
  }

  private stopPolling(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.feed.stop();
  }

  close(): Promise<void> {
    // Nothing accepted is dropped; without a writer thread the handle is closed before this returns.
    const draining = this.writes.close();
    if (!draining) {
      this.closeNow();
      return Promise.resolve();
    }
    return draining.then(() => this.closeNow());
  }

  private closeNow(): void {
    this.stopPolling();
    this.listeners.clear();
    this.db.close();
  }
}

/** Fail with KeyError if the store's key-check record does not open with this key. */
function verifyKeyCheck(raw: Database.Database, opts: SqliteStoreOptions, required: boolean): void {
  const hasMeta = raw.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'`).get() !== undefined;
  const row = hasMeta
    ? (raw.prepare(`SELECT value FROM meta WHERE key = ?`).get(KEY_CHECK_ROW) as { value: string } | undefined)
    : undefined;
  if (!row) {
    if (required) throw new StoreError('store has no key-check record after migration');
    return;
  }
  if (!keyCheckOpens(opts.sealer, row.value)) {
    throw new KeyError(
      `the encryption key does not match the one this store was created with (key: ${opts.keySpec}); use the original key`,
    );
  }
}
