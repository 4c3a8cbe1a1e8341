/**
 * Numbered schema migrations for the PostgreSQL store, mirroring the SQLite schema column for
 * column (so `tokenwarden migrate` can move sealed values as they are). Each runs once, in order,
 * in one transaction with its row in `schema_migrations`; concurrent openers serialise on a
 * `LOCK TABLE` of that table (no advisory locks: PostgreSQL-compatible distributed SQL engines
 * must work). A database whose schema is newer than this code is refused.
 *
 * Times are BIGINT epoch milliseconds written by callers, never `now()`.
 * Append new migrations; never edit one that has shipped.
 */
import type pg from 'pg';

import { StoreError } from '../../core/errors.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial',
    sql: `
      CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
      );

      -- Bumped on every connection change: the polling fallback of change notification.
      CREATE SEQUENCE connection_change_seq;

      CREATE TABLE connections (
        name               TEXT PRIMARY KEY,
        state              TEXT NOT NULL,
        version            BIGINT NOT NULL,
        access_token       TEXT,      -- sealed
        refresh_token      TEXT,      -- sealed
        id_token           TEXT,      -- sealed
        token_type         TEXT,
        scope              TEXT,
        account            TEXT,
        access_expires_at  BIGINT,
        granted_at         BIGINT,
        refresh_expires_at BIGINT,
        last_refresh_at    BIGINT,
        last_used_at       BIGINT,
        cause              TEXT,      -- JSON DiagnosedCause
        failure_count      INTEGER NOT NULL DEFAULT 0,
        next_attempt_at    BIGINT,
        last_error         TEXT,
        lease_owner        TEXT,
        lease_until        BIGINT,
        created_at         BIGINT NOT NULL,
        updated_at         BIGINT NOT NULL,
        change_seq         BIGINT NOT NULL DEFAULT nextval('connection_change_seq')
      );
      CREATE INDEX connections_by_change ON connections (change_seq);

      CREATE TABLE flows (
        id            TEXT PRIMARY KEY,
        connection    TEXT NOT NULL,
        kind          TEXT NOT NULL,
        status        TEXT NOT NULL,
        state         TEXT UNIQUE,
        code_verifier TEXT,           -- sealed
        device_code   TEXT,           -- sealed
        nonce         TEXT,           -- sealed
        user_code     TEXT,
        url           TEXT NOT NULL,
        redirect_uri  TEXT,
        interval      INTEGER,
        reason        TEXT,
        asked_via     TEXT NOT NULL DEFAULT '[]',  -- JSON string[]
        created_at    BIGINT NOT NULL,
        expires_at    BIGINT NOT NULL,
        reminded_at   BIGINT,
        completed_at  BIGINT,
        outcome       TEXT,
        seq           BIGSERIAL       -- insertion order (SQLite's rowid), for stable ordering
      );
      CREATE INDEX flows_by_status ON flows (status, connection, created_at);
      CREATE INDEX flows_by_connection ON flows (connection, created_at);

      CREATE TABLE events (
        id         BIGSERIAL PRIMARY KEY,
        at         BIGINT NOT NULL,
        type       TEXT NOT NULL,
        connection TEXT,
        message    TEXT NOT NULL,
        data       TEXT               -- JSON object
      );
      CREATE INDEX events_by_connection ON events (connection, id);

      CREATE TABLE outbox (
        id              TEXT PRIMARY KEY,
        mailbox         TEXT NOT NULL,
        idempotency_key TEXT NOT NULL,
        message_id      TEXT NOT NULL,
        payload         TEXT NOT NULL, -- sealed
        status          TEXT NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at BIGINT NOT NULL,
        lease_owner     TEXT,
        lease_until     BIGINT,
        route           TEXT,
        last_error      TEXT,
        created_at      BIGINT NOT NULL,
        sent_at         BIGINT,
        seq             BIGSERIAL,
        UNIQUE (mailbox, idempotency_key)
      );
      CREATE INDEX outbox_due ON outbox (status, next_attempt_at);

      CREATE TABLE leases (
        key   TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        until BIGINT NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: 'learned_lifetime',
    sql: `ALTER TABLE connections ADD COLUMN lifetime TEXT; -- JSON LearnedLifetime (no secret)`,
  },
];

/** The schema version this code writes and understands. */
export const SCHEMA_VERSION: number = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;

type Queryable = Pick<pg.ClientBase, 'query'>;

/** Highest applied migration (0 for a fresh database). */
export async function currentSchemaVersion(db: Queryable): Promise<number> {
  const exists = await db.query<{ t: string | null }>(`SELECT to_regclass('schema_migrations')::text AS t`);
  if (exists.rows[0]?.t == null) return 0;
  const row = await db.query<{ v: number | null }>(`SELECT MAX(version) AS v FROM schema_migrations`);
  return Number(row.rows[0]?.v ?? 0);
}

/** Throws StoreError if the database was written by a newer tokenwarden. */
export async function assertSchemaNotNewer(db: Queryable, where: string): Promise<void> {
  const found = await currentSchemaVersion(db);
  if (found > SCHEMA_VERSION) {
    throw new StoreError(
      `store ${where} has schema version ${found}, newer than this tokenwarden understands (${SCHEMA_VERSION}); upgrade tokenwarden to use it`,
    );
  }
}

/**
 * Apply pending migrations in one transaction, then run `afterMigrate` inside it (the store
 * writes its key check there). The table lock makes a second opener wait, then find nothing to do.
 */
export async function migrate(
  client: pg.ClientBase,
  where: string,
  now: number,
  afterMigrate: (tx: pg.ClientBase) => Promise<void>,
): Promise<void> {
  // CREATE TABLE IF NOT EXISTS races with a concurrent opener (duplicate type/catalog row);
  // once the other has committed, the retry finds the table.
  for (let attempt = 0; ; attempt++) {
    try {
      await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version    INTEGER PRIMARY KEY,
        name       TEXT NOT NULL,
        applied_at BIGINT NOT NULL
      )`);
      break;
    } catch (e) {
      const code = (e as { code?: string }).code ?? '';
      if (attempt >= 3 || !['23505', '42710', '42P07'].includes(code)) throw e;
    }
  }
  await client.query('BEGIN');
  try {
    await client.query('LOCK TABLE schema_migrations IN EXCLUSIVE MODE');
    // Re-check under the lock: another node may have migrated meanwhile.
    await assertSchemaNotNewer(client, where);
    const applied = await currentSchemaVersion(client);
    for (const m of MIGRATIONS) {
      if (m.version <= applied) continue;
      await client.query(m.sql);
      await client.query(`INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`, [
        m.version,
        m.name,
        now,
      ]);
    }
    await afterMigrate(client);
    await client.query('COMMIT');
  } catch (e) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw e;
  }
}
