/**
 * The `connections` table: credentials with optimistic versions and a refresh lease taken by
 * conditional UPDATE. Synchronous; the store wraps read-check-write calls in `BEGIN IMMEDIATE`.
 */
import { ConflictError, NotFoundError } from '../../core/errors.js';
import type { ConnectionFacts, ConnectionPatch, ConnectionRecord } from '../types.js';
import type { Db } from './db.js';
import {
  CONNECTION_FACT_COLUMNS,
  connectionFactsFromRow,
  connectionFromRow,
  connectionPatchColumns,
  type ConnectionFactsRow,
  type ConnectionRow,
} from '../codec.js';

function row(db: Db, name: string): ConnectionRow | undefined {
  return db.q(`SELECT * FROM connections WHERE name = ?`).get(name) as ConnectionRow | undefined;
}

export function getConnection(db: Db, name: string): ConnectionRecord | null {
  const r = row(db, name);
  return r ? connectionFromRow(db.sealer, r) : null;
}

export function listConnections(db: Db): ConnectionRecord[] {
  return (db.q(`SELECT * FROM connections ORDER BY name`).all() as ConnectionRow[]).map((r) =>
    connectionFromRow(db.sealer, r),
  );
}

/** One page in name order after `after` (see Store.pageConnections). */
export function pageConnections(db: Db, after: string | null, limit: number): ConnectionRecord[] {
  const rows = (
    after === null
      ? db.q(`SELECT * FROM connections ORDER BY name LIMIT ?`).all(limit)
      : db.q(`SELECT * FROM connections WHERE name > ? ORDER BY name LIMIT ?`).all(after, limit)
  ) as ConnectionRow[];
  return rows.map((r) => connectionFromRow(db.sealer, r));
}

/** Every row without its secrets (nothing opened; rows are mapped as they stream). */
export function listConnectionFacts(db: Db): ConnectionFacts[] {
  const out: ConnectionFacts[] = [];
  forEachConnectionFacts(db, (f) => out.push(f));
  return out;
}

/** {@link listConnectionFacts} without the array: `visit` runs inside the statement. */
export function forEachConnectionFacts(db: Db, visit: (facts: ConnectionFacts) => void): void {
  for (const r of db.q(`SELECT ${CONNECTION_FACT_COLUMNS} FROM connections ORDER BY name`).iterate())
    visit(connectionFactsFromRow(r as ConnectionFactsRow));
}

export function ensureConnection(db: Db, name: string, now: number): { record: ConnectionRecord; created: boolean } {
  const info = db
    .q(
      `INSERT INTO connections (name, state, version, failure_count, created_at, updated_at)
       VALUES (?, 'unauthorized', 1, 0, ?, ?) ON CONFLICT (name) DO NOTHING`,
    )
    .run(name, now, now);
  return { record: connectionFromRow(db.sealer, row(db, name) as ConnectionRow), created: info.changes === 1 };
}

/** Run inside an immediate transaction: the checks and the write must see the same row. */
export function updateConnection(
  db: Db,
  name: string,
  patch: ConnectionPatch,
  opts: { now: number; expectVersion?: number; leaseOwner?: string },
): ConnectionRecord {
  const current = row(db, name);
  if (!current) throw new NotFoundError(`connection "${name}" is not in the store`);
  if (opts.expectVersion !== undefined && current.version !== opts.expectVersion) {
    throw new ConflictError(
      `connection "${name}" changed meanwhile (version ${current.version}, expected ${opts.expectVersion}); re-read it`,
    );
  }
  if (
    opts.leaseOwner !== undefined &&
    (current.lease_owner !== opts.leaseOwner || current.lease_until === null || current.lease_until <= opts.now)
  ) {
    throw new ConflictError(`connection "${name}": the refresh lease of this owner expired or was taken over`);
  }
  const { columns, values } = connectionPatchColumns(db.sealer, name, patch);
  const sets = [...columns.map((c) => `${c} = ?`), 'version = version + 1', 'updated_at = ?'];
  db.q(`UPDATE connections SET ${sets.join(', ')} WHERE name = ?`).run(...values, opts.now, name);
  return connectionFromRow(db.sealer, row(db, name) as ConnectionRow);
}

/** Take the lease if free, expired or ours; return the row re-read under it, or null. */
export function acquireRefreshLease(
  db: Db,
  name: string,
  owner: string,
  ttlMs: number,
  now: number,
): ConnectionRecord | null {
  const info = db
    .q(
      `UPDATE connections SET lease_owner = ?, lease_until = ?
       WHERE name = ? AND (lease_owner IS NULL OR lease_until IS NULL OR lease_until <= ? OR lease_owner = ?)`,
    )
    .run(owner, now + ttlMs, name, now, owner);
  // Re-read under the lease: someone may have refreshed while we waited for it.
  const r = row(db, name);
  if (!r) throw new NotFoundError(`connection "${name}" is not in the store`);
  return info.changes === 1 ? connectionFromRow(db.sealer, r) : null;
}

export function releaseRefreshLease(db: Db, name: string, owner: string): void {
  db.q(`UPDATE connections SET lease_owner = NULL, lease_until = NULL WHERE name = ? AND lease_owner = ?`).run(
    name,
    owner,
  );
}

export function deleteConnection(db: Db, name: string): boolean {
  return db.q(`DELETE FROM connections WHERE name = ?`).run(name).changes > 0;
}

/** name → version of every connection (for spotting changes made by other processes). */
export function forEachConnectionVersion(db: Db, visit: (name: string, version: number) => void): void {
  for (const r of db.q(`SELECT name, version FROM connections`).iterate() as IterableIterator<{
    name: string;
    version: number;
  }>)
    visit(r.name, r.version);
}

export function connectionVersions(db: Db): Map<string, number> {
  const rows = db.q(`SELECT name, version FROM connections`).all() as { name: string; version: number }[];
  return new Map(rows.map((r) => [r.name, r.version]));
}
