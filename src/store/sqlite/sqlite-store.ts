/**
 * The embedded {@link Store} (DESIGN section 6): one SQLite file in WAL mode via better-sqlite3.
 *
 * - Durability: WAL with `synchronous=FULL` by default, so a committed (rotated) refresh token
 *   survives kill -9 and power loss; `normal` survives process crashes only and is faster.
 * - Concurrency: several processes may share the file. Leases are conditional UPDATEs;
 *   read-check-write sequences run in `BEGIN IMMEDIATE` transactions so they hold the write
 *   lock from the first read (no stale-snapshot upgrades), and `busy_timeout` waits for it.
 * - Secrets are sealed per row and column (rows.ts). A key-check record in `meta` makes a
 *   wrong key fail at open, before anything is written.
 */
import Database from 'better-sqlite3';

import { ConflictError, KeyError, NotFoundError, StoreError, TokenwardenError } from '../../core/errors.js';
import type { NewEvent, WardenEvent } from '../../core/types.js';
import type {
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
import { assertSchemaNotNewer, migrate } from './migrations.js';
import {
  aad,
  connectionFromRow,
  connectionPatchColumns,
  eventFromRow,
  flowFromRow,
  flowToRow,
  outboxFromRow,
  type ConnectionRow,
  type EventRow,
  type FlowRow,
  type OutboxRow,
  type SqlValue,
} from './rows.js';

export interface SqliteStoreOptions {
  sealer: Sealer;
  /** How the key was named (`file:…`, `env:…`), for error messages only. */
  keySpec: string;
  /** `full` (default) also survives power loss; `normal` survives process crashes. */
  synchronous?: 'full' | 'normal';
  busyTimeoutMs?: number;
}

const KEY_CHECK_AAD = aad('meta', 'key_check', 'value');
const KEY_CHECK_PLAINTEXT = 'tokenwarden key check v1';
const DEFAULT_LIMIT = 100;

function toStoreError(e: unknown): Error {
  if (e instanceof TokenwardenError) return e;
  const message = e instanceof Error ? e.message : String(e);
  // SQLite messages never contain bound values, so they are safe to pass on.
  return new StoreError(`SQLite store: ${message}`, { cause: e });
}

function isUniqueViolation(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

export class SqliteStore implements Store {
  readonly kind = 'sqlite';
  private readonly statements = new Map<string, Database.Statement>();
  private readonly listeners = new Set<(name: string) => void>();

  private constructor(
    private readonly db: Database.Database,
    private readonly sealer: Sealer,
  ) {}

  /**
   * Open (creating and migrating if needed) the store at `file` (`:memory:` for a private
   * in-memory store). Throws StoreError for a schema newer than this code or an unreadable file,
   * KeyError if `sealer` does not hold the key the store was created with.
   */
  static open(file: string, opts: SqliteStoreOptions): SqliteStore {
    let db: Database.Database;
    try {
      db = new Database(file, { timeout: opts.busyTimeoutMs ?? 5000 });
    } catch (e) {
      throw new StoreError(`cannot open SQLite store ${file}: ${(e as Error).message}`, { cause: e });
    }
    try {
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${opts.synchronous === 'normal' ? 'NORMAL' : 'FULL'}`);
      // Refuse before writing anything: a newer schema or a different key means hands off.
      assertSchemaNotNewer(db, file);
      verifyKeyCheck(db, opts, false);
      migrate(db, file, Date.now(), (tx) => {
        tx.prepare(`INSERT OR IGNORE INTO meta (key, value) VALUES ('key_check', ?)`).run(
          opts.sealer.seal(KEY_CHECK_PLAINTEXT, KEY_CHECK_AAD),
        );
      });
      verifyKeyCheck(db, opts, true);
    } catch (e) {
      db.close();
      throw toStoreError(e);
    }
    return new SqliteStore(db, opts.sealer);
  }

  // ------------------------------------------------------------------ plumbing

  private q(sql: string): Database.Statement {
    let s = this.statements.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  /** Run `fn` synchronously (in an immediate transaction if `tx`), translating SQLite errors. */
  private run<T>(fn: () => T, tx = false): Promise<T> {
    try {
      return Promise.resolve(tx ? this.db.transaction(fn).immediate() : fn());
    } catch (e) {
      return Promise.reject(toStoreError(e));
    }
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

  private connectionRow(name: string): ConnectionRow | undefined {
    return this.q(`SELECT * FROM connections WHERE name = ?`).get(name) as ConnectionRow | undefined;
  }

  private flowRow(id: string): FlowRow | undefined {
    return this.q(`SELECT * FROM flows WHERE id = ?`).get(id) as FlowRow | undefined;
  }

  private outboxRow(id: string): OutboxRow | undefined {
    return this.q(`SELECT * FROM outbox WHERE id = ?`).get(id) as OutboxRow | undefined;
  }

  // ------------------------------------------------------------------ connections

  getConnection(name: string): Promise<ConnectionRecord | null> {
    return this.run(() => {
      const row = this.connectionRow(name);
      return row ? connectionFromRow(this.sealer, row) : null;
    });
  }

  listConnections(): Promise<ConnectionRecord[]> {
    return this.run(() =>
      (this.q(`SELECT * FROM connections ORDER BY name`).all() as ConnectionRow[]).map((r) =>
        connectionFromRow(this.sealer, r),
      ),
    );
  }

  async ensureConnection(name: string, now: number): Promise<ConnectionRecord> {
    const { record, created } = await this.run(() => {
      const info = this.q(
        `INSERT INTO connections (name, state, version, failure_count, created_at, updated_at)
         VALUES (?, 'unauthorized', 1, 0, ?, ?) ON CONFLICT (name) DO NOTHING`,
      ).run(name, now, now);
      return {
        record: connectionFromRow(this.sealer, this.connectionRow(name) as ConnectionRow),
        created: info.changes === 1,
      };
    });
    if (created) this.notify(name);
    return record;
  }

  async updateConnection(
    name: string,
    patch: ConnectionPatch,
    opts: { now: number; expectVersion?: number; leaseOwner?: string },
  ): Promise<ConnectionRecord> {
    const record = await this.run(() => {
      const row = this.connectionRow(name);
      if (!row) throw new NotFoundError(`connection "${name}" is not in the store`);
      if (opts.expectVersion !== undefined && row.version !== opts.expectVersion) {
        throw new ConflictError(
          `connection "${name}" changed meanwhile (version ${row.version}, expected ${opts.expectVersion}); re-read it`,
        );
      }
      if (
        opts.leaseOwner !== undefined &&
        (row.lease_owner !== opts.leaseOwner || row.lease_until === null || row.lease_until <= opts.now)
      ) {
        throw new ConflictError(`connection "${name}": the refresh lease of this owner expired or was taken over`);
      }
      const { columns, values } = connectionPatchColumns(this.sealer, name, patch);
      const sets = [...columns.map((c) => `${c} = ?`), 'version = version + 1', 'updated_at = ?'];
      this.q(`UPDATE connections SET ${sets.join(', ')} WHERE name = ?`).run(...values, opts.now, name);
      return connectionFromRow(this.sealer, this.connectionRow(name) as ConnectionRow);
    }, true);
    this.notify(name);
    return record;
  }

  acquireRefreshLease(name: string, owner: string, ttlMs: number, now: number): Promise<ConnectionRecord | null> {
    return this.run(() => {
      const info = this.q(
        `UPDATE connections SET lease_owner = ?, lease_until = ?
         WHERE name = ? AND (lease_owner IS NULL OR lease_until IS NULL OR lease_until <= ? OR lease_owner = ?)`,
      ).run(owner, now + ttlMs, name, now, owner);
      // Re-read under the lease: someone may have refreshed while we waited for it.
      const row = this.connectionRow(name);
      if (!row) throw new NotFoundError(`connection "${name}" is not in the store`);
      return info.changes === 1 ? connectionFromRow(this.sealer, row) : null;
    }, true);
  }

  releaseRefreshLease(name: string, owner: string): Promise<void> {
    return this.run(() => {
      this.q(`UPDATE connections SET lease_owner = NULL, lease_until = NULL WHERE name = ? AND lease_owner = ?`).run(
        name,
        owner,
      );
    });
  }

  async deleteConnection(name: string): Promise<void> {
    const changes = await this.run(() => this.q(`DELETE FROM connections WHERE name = ?`).run(name).changes);
    if (changes > 0) this.notify(name);
  }

  // ------------------------------------------------------------------ flows

  createFlow(flow: NewFlow): Promise<FlowRecord> {
    return this.run(() => {
      const record: FlowRecord = { ...flow, status: 'open', remindedAt: null, completedAt: null, outcome: null };
      const row = flowToRow(this.sealer, record);
      const columns = Object.keys(row);
      try {
        this.q(`INSERT INTO flows (${columns.join(', ')}) VALUES (${columns.map((c) => '@' + c).join(', ')})`).run(row);
      } catch (e) {
        if (isUniqueViolation(e)) throw new ConflictError(`a flow with this id or state already exists`);
        throw e;
      }
      return flowFromRow(this.sealer, this.flowRow(flow.id) as FlowRow);
    });
  }

  getFlow(id: string): Promise<FlowRecord | null> {
    return this.run(() => {
      const row = this.flowRow(id);
      return row ? flowFromRow(this.sealer, row) : null;
    });
  }

  findFlowByState(state: string): Promise<FlowRecord | null> {
    return this.run(() => {
      const row = this.q(`SELECT * FROM flows WHERE state = ?`).get(state) as FlowRow | undefined;
      return row ? flowFromRow(this.sealer, row) : null;
    });
  }

  listOpenFlows(connection?: string): Promise<FlowRecord[]> {
    return this.run(() => {
      const rows = (
        connection === undefined
          ? this.q(`SELECT * FROM flows WHERE status = 'open' ORDER BY created_at DESC, rowid DESC`).all()
          : this.q(
              `SELECT * FROM flows WHERE status = 'open' AND connection = ? ORDER BY created_at DESC, rowid DESC`,
            ).all(connection)
      ) as FlowRow[];
      return rows.map((r) => flowFromRow(this.sealer, r));
    });
  }

  listFlows(opts: { connection?: string; limit?: number } = {}): Promise<FlowRecord[]> {
    return this.run(() => {
      const limit = opts.limit ?? DEFAULT_LIMIT;
      const rows = (
        opts.connection === undefined
          ? this.q(`SELECT * FROM flows ORDER BY created_at DESC, rowid DESC LIMIT ?`).all(limit)
          : this.q(`SELECT * FROM flows WHERE connection = ? ORDER BY created_at DESC, rowid DESC LIMIT ?`).all(
              opts.connection,
              limit,
            )
      ) as FlowRow[];
      return rows.map((r) => flowFromRow(this.sealer, r));
    });
  }

  updateFlow(id: string, patch: FlowPatch): Promise<FlowRecord> {
    return this.run(() => {
      const sets: string[] = [];
      const values: SqlValue[] = [];
      const set = (column: string, value: SqlValue | undefined): void => {
        if (value === undefined) return;
        sets.push(`${column} = ?`);
        values.push(value);
      };
      set('asked_via', patch.askedVia === undefined ? undefined : JSON.stringify(patch.askedVia));
      set('reminded_at', patch.remindedAt);
      set('outcome', patch.outcome);
      set('url', patch.url);
      set('expires_at', patch.expiresAt);
      if (sets.length > 0) this.q(`UPDATE flows SET ${sets.join(', ')} WHERE id = ?`).run(...values, id);
      const row = this.flowRow(id);
      if (!row) throw new NotFoundError(`flow ${id} is not in the store`);
      return flowFromRow(this.sealer, row);
    }, true);
  }

  finishFlow(id: string, status: Exclude<FlowStatus, 'open'>, now: number, outcome: string | null): Promise<boolean> {
    return this.run(
      () =>
        this.q(`UPDATE flows SET status = ?, completed_at = ?, outcome = ? WHERE id = ? AND status = 'open'`).run(
          status,
          now,
          outcome,
          id,
        ).changes === 1,
    );
  }

  // ------------------------------------------------------------------ events

  appendEvent(event: NewEvent, now: number): Promise<WardenEvent> {
    return this.run(() => {
      const at = event.at ?? now;
      const data = event.data === null ? null : JSON.stringify(event.data);
      const info = this.q(`INSERT INTO events (at, type, connection, message, data) VALUES (?, ?, ?, ?, ?)`).run(
        at,
        event.type,
        event.connection,
        event.message,
        data,
      );
      return eventFromRow({
        id: Number(info.lastInsertRowid),
        at,
        type: event.type,
        connection: event.connection,
        message: event.message,
        data,
      });
    });
  }

  listEvents(
    opts: { since?: number; connection?: string; limit?: number; newestFirst?: boolean } = {},
  ): Promise<WardenEvent[]> {
    return this.run(() => {
      const where = ['id > ?'];
      const values: SqlValue[] = [opts.since ?? 0];
      if (opts.connection !== undefined) {
        where.push('connection = ?');
        values.push(opts.connection);
      }
      const order = opts.newestFirst ? 'DESC' : 'ASC';
      const rows = this.q(`SELECT * FROM events WHERE ${where.join(' AND ')} ORDER BY id ${order} LIMIT ?`).all(
        ...values,
        opts.limit ?? DEFAULT_LIMIT,
      ) as EventRow[];
      return rows.map(eventFromRow);
    });
  }

  // ------------------------------------------------------------------ outbox

  enqueueMessage(msg: NewOutboxMessage, now: number): Promise<{ record: OutboxRecord; created: boolean }> {
    return this.run(() => {
      const existing = this.q(`SELECT * FROM outbox WHERE mailbox = ? AND idempotency_key = ?`).get(
        msg.mailbox,
        msg.idempotencyKey,
      ) as OutboxRow | undefined;
      if (existing) return { record: outboxFromRow(this.sealer, existing), created: false };
      try {
        this.q(
          `INSERT INTO outbox (id, mailbox, idempotency_key, message_id, payload, status, attempts, next_attempt_at, created_at)
           VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?)`,
        ).run(
          msg.id,
          msg.mailbox,
          msg.idempotencyKey,
          msg.messageId,
          this.sealer.seal(msg.payload, aad('outbox', msg.id, 'payload')),
          now,
          msg.createdAt,
        );
      } catch (e) {
        if (isUniqueViolation(e)) throw new ConflictError(`outbox message ${msg.id} already exists`);
        throw e;
      }
      return { record: outboxFromRow(this.sealer, this.outboxRow(msg.id) as OutboxRow), created: true };
    }, true);
  }

  getMessage(id: string): Promise<OutboxRecord | null> {
    return this.run(() => {
      const row = this.outboxRow(id);
      return row ? outboxFromRow(this.sealer, row) : null;
    });
  }

  claimMessages(opts: {
    owner: string;
    now: number;
    leaseMs: number;
    limit: number;
    mailbox?: string;
  }): Promise<OutboxRecord[]> {
    return this.run(() => {
      const due = `((status = 'pending' AND next_attempt_at <= ?)
                    OR (status = 'sending' AND (lease_until IS NULL OR lease_until <= ?)))`;
      const ids = (
        opts.mailbox === undefined
          ? this.q(`SELECT id FROM outbox WHERE ${due} ORDER BY next_attempt_at, created_at, id LIMIT ?`).all(
              opts.now,
              opts.now,
              opts.limit,
            )
          : this.q(
              `SELECT id FROM outbox WHERE mailbox = ? AND ${due} ORDER BY next_attempt_at, created_at, id LIMIT ?`,
            ).all(opts.mailbox, opts.now, opts.now, opts.limit)
      ) as { id: string }[];
      const claim = this.q(`UPDATE outbox SET status = 'sending', lease_owner = ?, lease_until = ? WHERE id = ?`);
      return ids.map(({ id }) => {
        claim.run(opts.owner, opts.now + opts.leaseMs, id);
        return outboxFromRow(this.sealer, this.outboxRow(id) as OutboxRow);
      });
    }, true);
  }

  updateMessage(id: string, patch: OutboxPatch, opts: { owner?: string }): Promise<OutboxRecord | null> {
    return this.run(() => {
      const sets: string[] = [];
      const values: SqlValue[] = [];
      const set = (column: string, value: SqlValue | undefined): void => {
        if (value === undefined) return;
        sets.push(`${column} = ?`);
        values.push(value);
      };
      set('status', patch.status);
      set('attempts', patch.attempts);
      set('next_attempt_at', patch.nextAttemptAt);
      set('route', patch.route);
      set('last_error', patch.lastError);
      set('sent_at', patch.sentAt);
      // Leaving `sending` ends the claim.
      if (patch.status !== undefined && patch.status !== 'sending')
        sets.push('lease_owner = NULL', 'lease_until = NULL');
      if (sets.length === 0) sets.push('id = id');
      const where = opts.owner === undefined ? 'id = ?' : 'id = ? AND lease_owner = ?';
      const whereValues = opts.owner === undefined ? [id] : [id, opts.owner];
      const info = this.q(`UPDATE outbox SET ${sets.join(', ')} WHERE ${where}`).run(...values, ...whereValues);
      if (info.changes === 0) return null;
      return outboxFromRow(this.sealer, this.outboxRow(id) as OutboxRow);
    }, true);
  }

  listMessages(opts: { mailbox?: string; status?: OutboxStatus; limit?: number } = {}): Promise<OutboxRecord[]> {
    return this.run(() => {
      const where: string[] = [];
      const values: SqlValue[] = [];
      if (opts.mailbox !== undefined) {
        where.push('mailbox = ?');
        values.push(opts.mailbox);
      }
      if (opts.status !== undefined) {
        where.push('status = ?');
        values.push(opts.status);
      }
      const clause = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
      const rows = this.q(`SELECT * FROM outbox ${clause} ORDER BY created_at DESC, rowid DESC LIMIT ?`).all(
        ...values,
        opts.limit ?? DEFAULT_LIMIT,
      ) as OutboxRow[];
      return rows.map((r) => outboxFromRow(this.sealer, r));
    });
  }

  outboxStats(mailbox?: string): Promise<OutboxStats> {
    return this.run(() => {
      const clause = mailbox === undefined ? '' : 'WHERE mailbox = ?';
      const args = mailbox === undefined ? [] : [mailbox];
      const rows = this.q(
        `SELECT status, COUNT(*) AS n, MIN(created_at) AS oldest FROM outbox ${clause} GROUP BY status`,
      ).all(...args) as { status: OutboxStatus; n: number; oldest: number }[];
      const stats: OutboxStats = { pending: 0, sending: 0, sent: 0, failed: 0, oldestPendingAt: null };
      for (const r of rows) {
        stats[r.status] = r.n;
        if ((r.status === 'pending' || r.status === 'sending') && (stats.oldestPendingAt ?? Infinity) > r.oldest) {
          stats.oldestPendingAt = r.oldest;
        }
      }
      return stats;
    });
  }

  // ------------------------------------------------------------------ leader leases

  acquireLease(key: string, owner: string, ttlMs: number, now: number): Promise<boolean> {
    return this.run(
      () =>
        this.q(
          `INSERT INTO leases (key, owner, until) VALUES (?, ?, ?)
           ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, until = excluded.until
           WHERE leases.owner = excluded.owner OR leases.until <= ?`,
        ).run(key, owner, now + ttlMs, now).changes === 1,
    );
  }

  releaseLease(key: string, owner: string): Promise<void> {
    return this.run(() => {
      this.q(`DELETE FROM leases WHERE key = ? AND owner = ?`).run(key, owner);
    });
  }

  getLease(key: string): Promise<{ owner: string; until: number } | null> {
    return this.run(() => {
      const row = this.q(`SELECT owner, until FROM leases WHERE key = ?`).get(key) as
        { owner: string; until: number } | undefined;
      return row ? { owner: row.owner, until: row.until } : null;
    });
  }

  // ------------------------------------------------------------------ change notification

  /** In-process only: called after this store object changes a connection row. */
  onConnectionChanged(listener: (name: string) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  close(): Promise<void> {
    this.listeners.clear();
    this.statements.clear();
    if (this.db.open) this.db.close();
    return Promise.resolve();
  }
}

/** Fail with KeyError if the store's key-check record does not open with this key. */
function verifyKeyCheck(db: Database.Database, opts: SqliteStoreOptions, required: boolean): void {
  const hasMeta = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'`).get() !== undefined;
  const row = hasMeta
    ? (db.prepare(`SELECT value FROM meta WHERE key = 'key_check'`).get() as { value: string } | undefined)
    : undefined;
  if (!row) {
    if (required) throw new StoreError('store has no key-check record after migration');
    return;
  }
  let ok = false;
  try {
    ok = opts.sealer.open(row.value, KEY_CHECK_AAD) === KEY_CHECK_PLAINTEXT;
  } catch {
    ok = false;
  }
  if (!ok) {
    throw new KeyError(
      `the encryption key does not match the one this store was created with (key: ${opts.keySpec}); use the original key`,
    );
  }
}
