/**
 * Numbered schema migrations for the SQLite store. Each runs once, in order, inside one
 * `BEGIN IMMEDIATE` transaction with its row in `schema_migrations`; a database whose schema is
 * newer than this code is refused rather than guessed at.
 *
 * Append new migrations; never edit one that has shipped.
 */
import type Database from 'better-sqlite3';

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

      CREATE TABLE connections (
        name               TEXT PRIMARY KEY,
        state              TEXT NOT NULL,
        version            INTEGER NOT NULL,
        access_token       TEXT,      -- sealed
        refresh_token      TEXT,      -- sealed
        id_token           TEXT,      -- sealed
        token_type         TEXT,
        scope              TEXT,
        account            TEXT,
        access_expires_at  INTEGER,
        granted_at         INTEGER,
        refresh_expires_at INTEGER,
        last_refresh_at    INTEGER,
        last_used_at       INTEGER,
        cause              TEXT,      -- JSON DiagnosedCause
        failure_count      INTEGER NOT NULL DEFAULT 0,
        next_attempt_at    INTEGER,
        last_error         TEXT,
        lease_owner        TEXT,
        lease_until        INTEGER,
        created_at         INTEGER NOT NULL,
        updated_at         INTEGER NOT NULL
      );

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
        created_at    INTEGER NOT NULL,
        expires_at    INTEGER NOT NULL,
        reminded_at   INTEGER,
        completed_at  INTEGER,
        outcome       TEXT
      );
      CREATE INDEX flows_by_status ON flows (status, connection, created_at);
      CREATE INDEX flows_by_connection ON flows (connection, created_at);

      CREATE TABLE events (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        at         INTEGER NOT NULL,
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
        next_attempt_at INTEGER NOT NULL,
        lease_owner     TEXT,
        lease_until     INTEGER,
        route           TEXT,
        last_error      TEXT,
        created_at      INTEGER NOT NULL,
        sent_at         INTEGER,
        UNIQUE (mailbox, idempotency_key)
      );
      CREATE INDEX outbox_due ON outbox (status, next_attempt_at);

      CREATE TABLE leases (
        key   TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        until INTEGER NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: 'learned_lifetime',
    sql: `ALTER TABLE connections ADD COLUMN lifetime TEXT; -- JSON LearnedLifetime (no secret)`,
  },
  {
    // The change feed (change-feed.ts): every insert, version bump and delete of a connection
    // takes the next number of a one-row counter in its own transaction; a reader asks only for
    // numbers above the last it saw. SQLite has one writer at a time, so numbers commit in order.
    version: 3,
    name: 'connection_change_seq',
    sql: `
      ALTER TABLE connections ADD COLUMN change_seq INTEGER NOT NULL DEFAULT 0;
      CREATE INDEX connections_by_change ON connections (change_seq);
      CREATE TABLE change_counter (
        id  INTEGER PRIMARY KEY CHECK (id = 1),
        seq INTEGER NOT NULL
      );
      INSERT INTO change_counter (id, seq) VALUES (1, 0);
      CREATE TABLE connection_deletions (
        seq  INTEGER PRIMARY KEY,
        name TEXT NOT NULL
      );
      CREATE TRIGGER connections_change_on_insert AFTER INSERT ON connections BEGIN
        UPDATE change_counter SET seq = seq + 1 WHERE id = 1;
        UPDATE connections SET change_seq = (SELECT seq FROM change_counter WHERE id = 1) WHERE rowid = NEW.rowid;
      END;
      CREATE TRIGGER connections_change_on_update AFTER UPDATE OF version ON connections
      WHEN NEW.version IS NOT OLD.version BEGIN
        UPDATE change_counter SET seq = seq + 1 WHERE id = 1;
        UPDATE connections SET change_seq = (SELECT seq FROM change_counter WHERE id = 1) WHERE rowid = NEW.rowid;
      END;
      -- Deletions are kept as tombstones, the newest 10,000.
      CREATE TRIGGER connections_change_on_delete AFTER DELETE ON connections BEGIN
        UPDATE change_counter SET seq = seq + 1 WHERE id = 1;
        INSERT INTO connection_deletions (seq, name) SELECT seq, OLD.name FROM change_counter WHERE id = 1;
        DELETE FROM connection_deletions
        WHERE seq < (SELECT seq FROM connection_deletions ORDER BY seq DESC LIMIT 1 OFFSET 9999);
      END;
    `,
  },
];

/** The schema version this code writes and understands. */
export const SCHEMA_VERSION: number = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;

function hasTable(db: Database.Database, name: string): boolean {
  return db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`).get(name) !== undefined;
}

/** Highest applied migration (0 for a fresh database). */
export function currentSchemaVersion(db: Database.Database): number {
  if (!hasTable(db, 'schema_migrations')) return 0;
  const row = db.prepare(`SELECT MAX(version) AS v FROM schema_migrations`).get() as { v: number | null };
  return row.v ?? 0;
}

/** Throws StoreError if the database was written by a newer tokenwarden. */
export function assertSchemaNotNewer(db: Database.Database, where: string): void {
  const found = currentSchemaVersion(db);
  if (found > SCHEMA_VERSION) {
    throw new StoreError(
      `store ${where} has schema version ${found}, newer than this tokenwarden understands (${SCHEMA_VERSION}); upgrade tokenwarden to use it`,
    );
  }
}

/**
 * Apply pending migrations in one immediate transaction (so concurrent openers serialise), then
 * run `afterMigrate` inside the same transaction (the store writes its key check there).
 */
export function migrate(
  db: Database.Database,
  where: string,
  now: number,
  afterMigrate: (db: Database.Database) => void,
): void {
  const run = db.transaction(() => {
    db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version    INTEGER PRIMARY KEY,
      name       TEXT NOT NULL,
      applied_at INTEGER NOT NULL
    )`);
    // Re-check under the write lock: another process may have migrated meanwhile.
    assertSchemaNotNewer(db, where);
    const applied = currentSchemaVersion(db);
    const record = db.prepare(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`);
    for (const m of MIGRATIONS) {
      if (m.version <= applied) continue;
      db.exec(m.sql);
      record.run(m.version, m.name, now);
    }
    afterMigrate(db);
  });
  run.immediate();
}
