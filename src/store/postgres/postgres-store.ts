/**
 * The shared {@link Store}: every node of a deployment points at the
 * same PostgreSQL (or a PostgreSQL-compatible distributed SQL engine), and refresh leases, flows,
 * outbox claims and leader leases all live there.
 *
 * - Each method is one statement, so it is atomic without explicit transactions. Leases are
 *   conditional UPDATEs / upserts whose WHERE clause PostgreSQL re-checks on the newest row
 *   version after waiting for a concurrent writer; no advisory locks.
 * - Outbox claims use `FOR UPDATE SKIP LOCKED`: concurrent senders take disjoint messages.
 * - Connection changes NOTIFY in the same statement (delivered on commit); see change-feed.ts.
 * - Secrets are sealed by the same codec as in SQLite (../codec.ts: same AAD
 *   `<table>:<row key>:<column>`, same key-check record), so sealed values move between the two
 *   stores unchanged.
 * - Times are epoch milliseconds from the caller; the database clock is never read.
 */
import type pg from 'pg';

import { KeyError, StoreError } from '../../core/errors.js';
import type { NewEvent, WardenEvent } from '../../core/types.js';
import { KEY_CHECK_ROW, keyCheckOpens, SEALED, SEALED_TABLES, sealKeyCheck, SwitchableSealer } from '../codec.js';
import { RESEAL_PAGE_ROWS, resealRow, resealStatements, type SealedRow } from '../sealed-pages.js';
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
import { supportsNotify } from './change-feed.js';
import { ConnectionChanges } from './connection-changes.js';
import { PgConnections } from './connections.js';
import { appendEvent, listEvents, pruneEvents } from './events.js';
import * as leases from './leases.js';
import { describeTarget, toStoreError } from './errors.js';
import { assertSchemaNotNewer, migrate } from './migrations.js';
import { PgFlows } from './flows.js';
import { PgOutbox, type PgRows } from './outbox.js';
import { PgPool } from './pool.js';

export interface PostgresStoreOptions {
  sealer: Sealer;
  /** How the key was named (`file:…`, `env:…`), for error messages only. */
  keySpec: string;
  /** Pool size per process (default 10). */
  poolSize?: number;
  /** Keep retrying this long while the server is unreachable (default 15 s). */
  retryMs?: number;
  /** `auto` (default): LISTEN/NOTIFY when the server supports it; `poll`: always poll. */
  notify?: 'auto' | 'poll';
  /** Polling period of change notification without NOTIFY (default 1 s). */
  pollMs?: number;
  /** Told about connection trouble (never contains secrets). */
  onTrouble?: (message: string) => void;
}

export class PostgresStore implements Store {
  readonly kind = 'postgres';
  private readonly changes: ConnectionChanges;
  private readonly connections: PgConnections;
  private readonly outbox: PgOutbox;
  private readonly flows: PgFlows;
  private readonly q: PgRows;
  /** The key in use; switched by {@link reseal} once the new one is committed. */
  private readonly sealer: SwitchableSealer;

  private constructor(
    private readonly db: PgPool,
    sealer: Sealer,
    private readonly notifySupported: boolean,
    private readonly opts: PostgresStoreOptions,
  ) {
    this.sealer = new SwitchableSealer(sealer);
    this.q = (sql, values, idempotent) => this.rows(sql, values, idempotent);
    this.changes = new ConnectionChanges({
      connect: () => this.db.client(),
      query: (sql, values) => this.db.query(sql, values, { idempotent: true }),
      notify: notifySupported,
      pollMs: opts.pollMs ?? 1_000,
      ...(opts.onTrouble !== undefined ? { onTrouble: opts.onTrouble } : {}),
    });
    this.connections = new PgConnections(this.q, this.sealer, this.changes);
    this.outbox = new PgOutbox(this.q, this.sealer);
    this.flows = new PgFlows(this.q, this.sealer);
  }

  /**
   * Connect, refuse a newer schema or a different key, migrate, and check the key again.
   * Throws TransientError when the server cannot be reached, StoreError when the database is
   * missing or refuses us, KeyError for the wrong key. Messages name `user@host:port/db` only.
   */
  static async open(url: string, opts: PostgresStoreOptions): Promise<PostgresStore> {
    const target = describeTarget(url);
    const db = new PgPool({
      url,
      target,
      ...(opts.poolSize !== undefined ? { max: opts.poolSize } : {}),
      ...(opts.retryMs !== undefined ? { retryMs: opts.retryMs } : {}),
      ...(opts.onTrouble !== undefined ? { onTrouble: opts.onTrouble } : {}),
    });
    try {
      const notify = await db.withClient(async (c) => {
        await assertSchemaNotNewer(c, target);
        await verifyKeyCheck(c, opts, false);
        await migrate(c, target, Date.now(), async (tx) => {
          await tx.query(`INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`, [
            KEY_CHECK_ROW,
            sealKeyCheck(opts.sealer),
          ]);
        });
        await verifyKeyCheck(c, opts, true);
        return opts.notify !== 'poll' && (await supportsNotify(c));
      });
      return new PostgresStore(db, opts.sealer, notify, opts);
    } catch (e) {
      await db.end().catch(() => undefined);
      throw toStoreError(e, target);
    }
  }

  async checkKey(): Promise<void> {
    await this.db.withClient((c) => verifyKeyCheck(c, { sealer: this.sealer, keySpec: this.opts.keySpec }, true));
  }

  /**
   * Key rotation in one transaction on one connection. The sealed tables are locked against
   * other writers first (readers go on), so a value written meanwhile under the old key cannot
   * slip past; then each table of the codec's registry is read a page at a time in row-key
   * order and written back with one UPDATE per page.
   */
  async reseal(to: Sealer, opts: { pageRows?: number } = {}): Promise<number> {
    const pageRows = Math.max(1, Math.floor(opts.pageRows ?? RESEAL_PAGE_ROWS));
    const from = this.sealer.inner;
    const count = await this.db.withClient(async (c) => {
      await c.query('BEGIN');
      try {
        await c.query(`LOCK TABLE ${SEALED_TABLES.join(', ')} IN EXCLUSIVE MODE`);
        let n = 0;
        for (const table of SEALED_TABLES) {
          const sql = resealStatements(table, (i) => `$${i}`);
          const rule = SEALED[table];
          const params = ['k', ...sql.columns].map((_, i) => `$${i + 1}::text[]`).join(', ');
          const update =
            `UPDATE ${table} AS t SET ${sql.columns.map((col) => `${col} = u.${col}`).join(', ')} ` +
            `FROM unnest(${params}) AS u(k, ${sql.columns.join(', ')}) WHERE t.${rule.key} = u.k`;
          let after: string | null = null;
          for (;;) {
            const page: SealedRow[] = (
              after === null
                ? await c.query<SealedRow>(sql.first, [pageRows])
                : await c.query<SealedRow>(sql.next, [after, pageRows])
            ).rows;
            if (page.length > 0) {
              const keys: string[] = [];
              const columns: Array<Array<string | null>> = sql.columns.map(() => []);
              for (const row of page) {
                const r = resealRow(from, to, table, row);
                n += r.count;
                keys.push(row.k);
                r.values.forEach((v, i) => (columns[i] as Array<string | null>).push(v));
              }
              await c.query(update, [keys, ...columns]);
            }
            if (page.length < pageRows) break;
            after = (page[page.length - 1] as SealedRow).k;
          }
        }
        await c.query('COMMIT');
        return n;
      } catch (e) {
        await c.query('ROLLBACK').catch(() => undefined);
        throw e;
      }
    });
    this.sealer.use(to);
    return count;
  }

  /** Whether change notification uses LISTEN/NOTIFY (else polling). */
  get usesNotify(): boolean {
    return this.notifySupported;
  }

  // ------------------------------------------------------------------ connections

  private async rows<R extends pg.QueryResultRow>(sql: string, values: unknown[], idempotent = true): Promise<R[]> {
    return (await this.db.query<R>(sql, values, { idempotent })).rows;
  }

  getConnection(name: string): Promise<ConnectionRecord | null> {
    return this.connections.getConnection(name);
  }

  listConnections(): Promise<ConnectionRecord[]> {
    return this.connections.listConnections();
  }

  pageConnections(opts: { after?: string | null; limit: number }): Promise<ConnectionRecord[]> {
    return this.connections.pageConnections(opts);
  }

  listConnectionFacts(): Promise<ConnectionFacts[]> {
    return this.connections.listConnectionFacts();
  }

  forEachConnectionFacts(visit: (facts: ConnectionFacts) => void): Promise<void> {
    return this.connections.forEachConnectionFacts(visit);
  }

  connectionVersions(): Promise<Map<string, number>> {
    return this.connections.connectionVersions();
  }

  forEachConnectionVersion(visit: (name: string, version: number) => void): Promise<void> {
    return this.connections.forEachConnectionVersion(visit);
  }

  ensureConnection(name: string, now: number): Promise<ConnectionRecord> {
    return this.connections.ensureConnection(name, now);
  }

  updateConnection(
    name: string,
    patch: ConnectionPatch,
    opts: { now: number; expectVersion?: number; leaseOwner?: string },
  ): Promise<ConnectionRecord> {
    return this.connections.updateConnection(name, patch, opts);
  }

  acquireRefreshLease(name: string, owner: string, ttlMs: number, now: number): Promise<ConnectionRecord | null> {
    return this.connections.acquireRefreshLease(name, owner, ttlMs, now);
  }

  releaseRefreshLease(name: string, owner: string): Promise<void> {
    return this.connections.releaseRefreshLease(name, owner);
  }

  deleteConnection(name: string): Promise<void> {
    return this.connections.deleteConnection(name);
  }

  // ------------------------------------------------------------------ flows

  createFlow(flow: NewFlow): Promise<FlowRecord> {
    return this.flows.createFlow(flow);
  }

  getFlow(id: string): Promise<FlowRecord | null> {
    return this.flows.getFlow(id);
  }

  findFlowByState(state: string): Promise<FlowRecord | null> {
    return this.flows.findFlowByState(state);
  }

  listOpenFlows(connection?: string): Promise<FlowRecord[]> {
    return this.flows.listOpenFlows(connection);
  }

  listFlows(opts: { connection?: string; limit?: number } = {}): Promise<FlowRecord[]> {
    return this.flows.listFlows(opts);
  }

  updateFlow(id: string, patch: FlowPatch): Promise<FlowRecord> {
    return this.flows.updateFlow(id, patch);
  }

  finishFlow(id: string, status: Exclude<FlowStatus, 'open'>, now: number, outcome: string | null): Promise<boolean> {
    return this.flows.finishFlow(id, status, now, outcome);
  }

  // ------------------------------------------------------------------ events

  pruneEvents(opts: { before: number; keep: number; chunk?: number }): Promise<number> {
    return pruneEvents(this.q, opts);
  }

  appendEvent(event: NewEvent, now: number): Promise<WardenEvent> {
    return appendEvent(this.q, event, now);
  }

  listEvents(opts: { since?: number; connection?: string; limit?: number; newestFirst?: boolean } = {}) {
    return listEvents(this.q, opts);
  }

  // ------------------------------------------------------------------ outbox

  enqueueMessage(
    msg: NewOutboxMessage,
    now: number,
    opts: { claim?: { owner: string; leaseMs: number } } = {},
  ): Promise<{ record: OutboxRecord; created: boolean }> {
    return this.outbox.enqueueMessage(msg, now, opts.claim);
  }

  getMessage(id: string): Promise<OutboxRecord | null> {
    return this.outbox.getMessage(id);
  }

  claimMessages(opts: { owner: string; now: number; leaseMs: number; limit: number; mailbox?: string; id?: string }) {
    return this.outbox.claimMessages(opts);
  }

  updateMessage(id: string, patch: OutboxPatch, opts: { owner?: string }): Promise<OutboxRecord | null> {
    return this.outbox.updateMessage(id, patch, opts);
  }

  listMessages(opts: { mailbox?: string; status?: OutboxStatus; limit?: number } = {}): Promise<OutboxRecord[]> {
    return this.outbox.listMessages(opts);
  }

  outboxStats(mailbox?: string): Promise<OutboxStats> {
    return this.outbox.outboxStats(mailbox);
  }

  // ------------------------------------------------------------------ leader leases

  acquireLease(key: string, owner: string, ttlMs: number, now: number): Promise<boolean> {
    return leases.acquireLease(this.q, key, owner, ttlMs, now);
  }

  releaseLease(key: string, owner: string): Promise<void> {
    return leases.releaseLease(this.q, key, owner);
  }

  getLease(key: string): Promise<{ owner: string; until: number } | null> {
    return leases.getLease(this.q, key);
  }

  // ------------------------------------------------------------------ change notification

  /**
   * Called when a connection row changes on any node: at once for changes made through this
   * object, by LISTEN/NOTIFY (or polling) for the others. Best effort: re-read the store.
   */
  onConnectionChanged(listener: (name: string) => void): () => void {
    return this.changes.subscribe(listener);
  }

  catchUpChanges(): Promise<void> {
    return this.changes.catchUp();
  }

  /** Resolves once changes committed from now on will be reported (the LISTEN is in place). */
  changeFeedReady(): Promise<void> {
    return this.changes.ready();
  }

  async close(): Promise<void> {
    await this.changes.close();
    await this.db.end();
  }
}

/** Open a PostgreSQL store (the `postgres://` seam of open-store.ts). */
export function openPostgresStore(url: string, opts: PostgresStoreOptions): Promise<Store> {
  return PostgresStore.open(url, opts);
}

/** Fail with KeyError if the store's key-check record does not open with this key. */
async function verifyKeyCheck(
  c: pg.ClientBase,
  opts: { sealer: Sealer; keySpec: string },
  required: boolean,
): Promise<void> {
  const hasMeta = (await c.query<{ t: string | null }>(`SELECT to_regclass('meta')::text AS t`)).rows[0]?.t != null;
  const row = hasMeta
    ? (await c.query<{ value: string }>(`SELECT value FROM meta WHERE key = $1`, [KEY_CHECK_ROW])).rows[0]
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
