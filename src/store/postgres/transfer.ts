/**
 * Move a whole store between SQLite and PostgreSQL (`tokenwarden migrate`): connections, flows,
 * events and the mail outbox. Secrets stay sealed: both stores seal with the same key and the
 * same associated data (`<table>:<row key>:<column>`, ../codec.ts), so sealed values are copied
 * byte for byte and never opened on the way. Leases are not copied (a lease belongs to a process
 * of the old deployment); event ids are kept, so `since` cursors stay valid.
 *
 * Both stores are opened through openStore first, which migrates them and proves the key opens
 * both (key-check record); at the end every sealed value of the target is read back and opened
 * with its associated data, a page at a time (memory stays flat at 100,000 rows).
 */
import { resolve } from 'node:path';

import Database from 'better-sqlite3';
import pg from 'pg';

import { StoreError, UsageError } from '../../core/errors.js';
import { SEALED_TABLES, type SealedTable } from '../codec.js';
import { openSealedRow, RESEAL_PAGE_ROWS, resealStatements, type SealedRow } from '../sealed-pages.js';
import { openStore } from '../open-store.js';
import { createSealer } from '../seal.js';
import type { Sealer } from '../types.js';
import { describeTarget, toStoreError } from './errors.js';

export interface TransferOptions {
  from: string;
  to: string;
  key: Buffer;
  keySpec: string;
  /** Directory relative `sqlite:` paths resolve against. */
  baseDir: string;
  /** Replace the contents of a non-empty target. */
  force?: boolean;
}

export type TransferCounts = Record<TableName, number>;

type TableName = 'connections' | 'flows' | 'events' | 'outbox';
type Row = Record<string, string | number | null>;

/** Columns both schemas share, in their SQLite order. */
const TABLES: ReadonlyArray<{
  name: TableName;
  columns: readonly string[];
  order: { sqlite: string; postgres: string };
}> = [
  {
    name: 'connections',
    columns: [
      'name',
      'state',
      'version',
      'access_token',
      'refresh_token',
      'id_token',
      'token_type',
      'scope',
      'account',
      'access_expires_at',
      'granted_at',
      'refresh_expires_at',
      'last_refresh_at',
      'last_used_at',
      'cause',
      'lifetime',
      'failure_count',
      'next_attempt_at',
      'last_error',
      'lease_owner',
      'lease_until',
      'created_at',
      'updated_at',
    ],
    order: { sqlite: 'name', postgres: 'name' },
  },
  {
    name: 'flows',
    columns: [
      'id',
      'connection',
      'kind',
      'status',
      'state',
      'code_verifier',
      'device_code',
      'nonce',
      'user_code',
      'url',
      'redirect_uri',
      'interval',
      'reason',
      'asked_via',
      'created_at',
      'expires_at',
      'reminded_at',
      'completed_at',
      'outcome',
    ],
    order: { sqlite: 'rowid', postgres: 'seq' },
  },
  {
    name: 'events',
    columns: ['id', 'at', 'type', 'connection', 'message', 'data'],
    order: { sqlite: 'id', postgres: 'id' },
  },
  {
    name: 'outbox',
    columns: [
      'id',
      'mailbox',
      'idempotency_key',
      'message_id',
      'payload',
      'status',
      'attempts',
      'next_attempt_at',
      'lease_owner',
      'lease_until',
      'route',
      'last_error',
      'created_at',
      'sent_at',
    ],
    order: { sqlite: 'rowid', postgres: 'seq' },
  },
];

const BATCH = 500;

/** Raw access to a store's tables: sealed values are just text here. */
interface RawSide {
  describe: string;
  count(table: TableName): Promise<number>;
  read(table: (typeof TABLES)[number], batch: (rows: Row[]) => Promise<void>): Promise<void>;
  /** A page of a sealed table's row keys and sealed values (codec's reseal statements), after `after`. */
  sealedPage(table: SealedTable, after: string | null, limit: number): Promise<SealedRow[]>;
  /** Run `fn` in one transaction on the target. */
  write(fn: (w: RawWriter) => Promise<void>): Promise<void>;
  close(): Promise<void>;
}

interface RawWriter {
  clear(table: TableName): Promise<void>;
  insert(table: (typeof TABLES)[number], rows: Row[]): Promise<void>;
  /** After inserting events with explicit ids: later events continue above them. */
  finish(): Promise<void>;
}

/** Lease columns are never carried over. */
function withoutLeases(row: Row): Row {
  return 'lease_owner' in row ? { ...row, lease_owner: null, lease_until: null } : row;
}

function sqliteFile(url: string, baseDir: string): string {
  if (url === ':memory:' || url === 'sqlite::memory:')
    throw new UsageError('migrate needs a store on disk or a server, not :memory:');
  let path = url.slice('sqlite:'.length);
  if (path.startsWith('//')) path = path.slice(2);
  if (path === '') throw new UsageError('store sqlite: needs a path, e.g. sqlite:.tokenwarden/state.db');
  return resolve(baseDir, path);
}

function isPostgres(url: string): boolean {
  return /^postgres(ql)?:\/\//.test(url);
}

function openRawSqlite(file: string): RawSide {
  const db = new Database(file, { timeout: 5_000 });
  return {
    describe: file,
    count: (table) => Promise.resolve((db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n),
    async read(t, batch) {
      let rows: Row[] = [];
      for (const row of db
        .prepare(`SELECT ${t.columns.join(', ')} FROM ${t.name} ORDER BY ${t.order.sqlite}`)
        .iterate()) {
        rows.push(row as Row);
        if (rows.length === BATCH) {
          await batch(rows);
          rows = [];
        }
      }
      if (rows.length > 0) await batch(rows);
    },
    sealedPage(table, after, limit) {
      const sql = resealStatements(table, () => '?');
      const rows = after === null ? db.prepare(sql.first).all(limit) : db.prepare(sql.next).all(after, limit);
      return Promise.resolve(rows as SealedRow[]);
    },
    async write(fn) {
      // better-sqlite3 transactions are synchronous; statements here are too, so BEGIN/COMMIT by hand.
      db.exec('BEGIN IMMEDIATE');
      try {
        await fn({
          clear: (table) => Promise.resolve(void db.prepare(`DELETE FROM ${table}`).run()),
          insert: (t, rows) => {
            const stmt = db.prepare(
              `INSERT INTO ${t.name} (${t.columns.join(', ')}) VALUES (${t.columns.map(() => '?').join(', ')})`,
            );
            for (const r of rows) stmt.run(...t.columns.map((c) => r[c] ?? null));
            return Promise.resolve();
          },
          finish: () => Promise.resolve(),
        });
        db.exec('COMMIT');
      } catch (e) {
        db.exec('ROLLBACK');
        throw e;
      }
    },
    close: () => Promise.resolve(void db.close()),
  };
}

async function openRawPostgres(url: string): Promise<RawSide> {
  const target = describeTarget(url);
  const types: pg.CustomTypesConfig = {
    getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
      oid === 20
        ? (v: string) => Number(v)
        : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
  };
  const client = new pg.Client({ connectionString: url, types });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (e) {
    throw toStoreError(e, target);
  }
  const q = async <R extends pg.QueryResultRow>(sql: string, values: unknown[] = []): Promise<R[]> => {
    try {
      return (await client.query<R>(sql, values)).rows;
    } catch (e) {
      throw toStoreError(e, target);
    }
  };
  return {
    describe: target,
    count: async (table) => Number((await q<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table}`))[0]?.n ?? 0),
    async read(t, batch) {
      // Keyset pagination on the ordering column keeps memory flat for 100,000 rows.
      let after: string | number | null = null;
      for (;;) {
        const rows: Array<Row & { _k: string | number }> = await q(
          `SELECT ${t.columns.join(', ')}, ${t.order.postgres} AS _k FROM ${t.name}
           ${after === null ? '' : `WHERE ${t.order.postgres} > $2`} ORDER BY ${t.order.postgres} LIMIT $1`,
          after === null ? [BATCH] : [BATCH, after],
        );
        if (rows.length === 0) return;
        after = rows[rows.length - 1]?._k ?? null;
        await batch(rows.map(({ _k, ...r }) => r));
        if (rows.length < BATCH) return;
      }
    },
    sealedPage(table, after, limit) {
      const sql = resealStatements(table, (i) => `$${i}`);
      return after === null ? q<SealedRow>(sql.first, [limit]) : q<SealedRow>(sql.next, [after, limit]);
    },
    async write(fn) {
      await q('BEGIN');
      try {
        await fn({
          clear: async (table) => void (await q(`DELETE FROM ${table}`)),
          insert: async (t, rows) => {
            const values: unknown[] = [];
            const tuples = rows.map(
              (r) => `(${t.columns.map((c) => (values.push(r[c] ?? null), `$${values.length}`)).join(', ')})`,
            );
            await q(`INSERT INTO ${t.name} (${t.columns.join(', ')}) VALUES ${tuples.join(', ')}`, values);
          },
          finish: async () => {
            await q(`SELECT setval(pg_get_serial_sequence('events', 'id'), GREATEST((SELECT MAX(id) FROM events), 1))`);
          },
        });
        await q('COMMIT');
      } catch (e) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw e;
      }
    },
    close: () => client.end(),
  };
}

async function openRaw(url: string, baseDir: string): Promise<RawSide> {
  if (isPostgres(url)) return openRawPostgres(url);
  if (url.startsWith('sqlite:') || url === ':memory:') return openRawSqlite(sqliteFile(url, baseDir));
  throw new UsageError('a store must be sqlite:PATH or postgres://…');
}

/**
 * Copy every connection, flow, event and outbox message from `from` into `to`. Refuses a
 * non-empty target unless `force` (then its contents are replaced). Returns the rows copied.
 */
export async function transferStore(opts: TransferOptions): Promise<TransferCounts> {
  const storeOpts = { key: opts.key, keySpec: opts.keySpec, baseDir: opts.baseDir };
  if (!isPostgres(opts.from) && !opts.from.startsWith('sqlite:'))
    throw new UsageError('--from must be sqlite:PATH or postgres://…');
  if (!isPostgres(opts.to) && !opts.to.startsWith('sqlite:'))
    throw new UsageError('--to must be sqlite:PATH or postgres://…');
  if (opts.from === opts.to) throw new UsageError('--from and --to name the same store');
  // Migrate both schemas and prove the key opens both (a wrong key fails here, before any copy).
  await (await openStore(opts.from, storeOpts)).close();
  await (await openStore(opts.to, storeOpts)).close();

  const source = await openRaw(opts.from, opts.baseDir);
  const target = await openRaw(opts.to, opts.baseDir);
  const counts: TransferCounts = { connections: 0, flows: 0, events: 0, outbox: 0 };
  try {
    const existing: string[] = [];
    for (const t of TABLES) {
      const n = await target.count(t.name);
      if (n > 0) existing.push(`${n} ${t.name}`);
    }
    if (existing.length > 0 && !opts.force) {
      throw new UsageError(
        `target store ${target.describe} is not empty (${existing.join(', ')}); pass --force to replace its contents`,
      );
    }
    await target.write(async (w) => {
      for (const t of [...TABLES].reverse()) await w.clear(t.name);
      for (const t of TABLES) {
        await source.read(t, async (rows) => {
          await w.insert(t, rows.map(withoutLeases));
          counts[t.name] += rows.length;
        });
      }
      await w.finish();
    });
  } finally {
    await source.close();
    await target.close();
  }

  // Read every sealed value of the target back: each must open there with its associated data.
  const check = await openRaw(opts.to, opts.baseDir);
  try {
    const seen = await openEverySealedValue(check, createSealer(opts.key));
    if (seen.connections !== counts.connections) {
      throw new StoreError(
        `after migrate, ${opts.to.startsWith('sqlite:') ? 'the SQLite' : 'the PostgreSQL'} store holds ${seen.connections} connections, expected ${counts.connections}`,
      );
    }
  } finally {
    await check.close();
  }
  return counts;
}

/**
 * Open every sealed value of every sealed table a page at a time (KeyError naming the value on
 * the first that does not open). Returns how many rows each table has.
 */
async function openEverySealedValue(side: RawSide, sealer: Sealer): Promise<Record<SealedTable, number>> {
  const rows = { connections: 0, flows: 0, outbox: 0, meta: 0 };
  for (const table of SEALED_TABLES) {
    let after: string | null = null;
    for (;;) {
      const page = await side.sealedPage(table, after, RESEAL_PAGE_ROWS);
      for (const row of page) openSealedRow(sealer, table, row);
      rows[table] += page.length;
      if (page.length < RESEAL_PAGE_ROWS) break;
      after = String((page[page.length - 1] as SealedRow).k);
    }
  }
  return rows;
}
