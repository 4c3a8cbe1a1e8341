/**
 * The connections half of {@link PostgresStore}: credentials with optimistic versions, a refresh
 * lease taken by conditional UPDATE, and a `change_seq` (plus NOTIFY where supported, see
 * connection-changes.ts) on every insert, version bump and delete. Each method is one statement
 * per attempt, so it is atomic without an explicit transaction: PostgreSQL re-checks an UPDATE's
 * WHERE clause on the newest row version after waiting for a concurrent writer.
 */
import { ConflictError, NotFoundError, StoreError } from '../../core/errors.js';
import {
  CONNECTION_FACT_COLUMNS,
  connectionFactsFromRow,
  connectionFromRow,
  connectionPatchColumns,
  type ConnectionFactsRow,
  type ConnectionRow,
} from '../codec.js';
import { pageLimit } from '../paging.js';
import type { ConnectionFacts, ConnectionPatch, ConnectionRecord, Sealer } from '../types.js';
import type { ConnectionChanges } from './connection-changes.js';
import type { PgRows } from './outbox.js';

/** Rows per query of a streamed secret-free listing. */
const FACTS_PAGE_ROWS = 5_000;

type Versioned = { name: string; version: number | string };

export class PgConnections {
  constructor(
    private readonly rows: PgRows,
    private readonly sealer: Sealer,
    private readonly changes: ConnectionChanges,
  ) {}

  private record(row: ConnectionRow): ConnectionRecord {
    return connectionFromRow(this.sealer, row);
  }

  async getConnection(name: string): Promise<ConnectionRecord | null> {
    const [row] = await this.rows<ConnectionRow>(`SELECT * FROM connections WHERE name = $1`, [name]);
    return row ? this.record(row) : null;
  }

  async listConnections(): Promise<ConnectionRecord[]> {
    const rows = await this.rows<ConnectionRow>(`SELECT * FROM connections ORDER BY name`, []);
    return rows.map((r) => this.record(r));
  }

  async pageConnections(opts: { after?: string | null; limit: number }): Promise<ConnectionRecord[]> {
    const limit = pageLimit(opts.limit);
    const rows =
      opts.after === undefined || opts.after === null
        ? await this.rows<ConnectionRow>(`SELECT * FROM connections ORDER BY name LIMIT $1`, [limit])
        : await this.rows<ConnectionRow>(`SELECT * FROM connections WHERE name > $1 ORDER BY name LIMIT $2`, [
            opts.after,
            limit,
          ]);
    return rows.map((r) => this.record(r));
  }

  async listConnectionFacts(): Promise<ConnectionFacts[]> {
    const rows = await this.rows<ConnectionFactsRow>(
      `SELECT ${CONNECTION_FACT_COLUMNS} FROM connections ORDER BY name`,
      [],
    );
    return rows.map(connectionFactsFromRow);
  }

  /** A page of rows at a time by name (keyset), so the client never holds every row. */
  async forEachConnectionFacts(visit: (facts: ConnectionFacts) => void): Promise<void> {
    let after: string | null = null;
    for (;;) {
      const rows: ConnectionFactsRow[] =
        after === null
          ? await this.rows<ConnectionFactsRow>(
              `SELECT ${CONNECTION_FACT_COLUMNS} FROM connections ORDER BY name LIMIT ${FACTS_PAGE_ROWS}`,
              [],
            )
          : await this.rows<ConnectionFactsRow>(
              `SELECT ${CONNECTION_FACT_COLUMNS} FROM connections WHERE name > $1 ORDER BY name LIMIT ${FACTS_PAGE_ROWS}`,
              [after],
            );
      for (const r of rows) visit(connectionFactsFromRow(r));
      if (rows.length < FACTS_PAGE_ROWS) return;
      after = (rows[rows.length - 1] as ConnectionFactsRow).name;
    }
  }

  async connectionVersions(): Promise<Map<string, number>> {
    const rows = await this.rows<Versioned>(`SELECT name, version FROM connections`, []);
    return new Map(rows.map((r) => [r.name, Number(r.version)]));
  }

  async forEachConnectionVersion(visit: (name: string, version: number) => void): Promise<void> {
    for (const r of await this.rows<Versioned>(`SELECT name, version FROM connections`, []))
      visit(r.name, Number(r.version));
  }

  async ensureConnection(name: string, now: number): Promise<ConnectionRecord> {
    const [inserted] = await this.rows<ConnectionRow & { change_seq: number }>(
      this.changes.notifying(
        `INSERT INTO connections (name, state, version, failure_count, created_at, updated_at)
         VALUES ($1, 'unauthorized', 1, 0, $2, $2) ON CONFLICT (name) DO NOTHING`,
      ),
      [name, now],
    );
    if (inserted) {
      this.changes.changed(inserted);
      return this.record(inserted);
    }
    const existing = await this.getConnection(name);
    if (!existing) throw new StoreError(`connection "${name}" vanished while being created; retry`);
    return existing;
  }

  async updateConnection(
    name: string,
    patch: ConnectionPatch,
    opts: { now: number; expectVersion?: number; leaseOwner?: string },
  ): Promise<ConnectionRecord> {
    const { columns, values } = connectionPatchColumns(this.sealer, name, patch);
    const params: unknown[] = [name, opts.now, ...values];
    const sets = [
      ...columns.map((c, i) => `${c} = $${i + 3}`),
      'version = version + 1',
      'updated_at = $2',
      `change_seq = nextval('connection_change_seq')`,
    ];
    const where = ['name = $1'];
    if (opts.expectVersion !== undefined) {
      params.push(opts.expectVersion);
      where.push(`version = $${params.length}`);
    }
    if (opts.leaseOwner !== undefined) {
      params.push(opts.leaseOwner);
      // A lease holder whose lease ended must not write.
      where.push(`lease_owner = $${params.length} AND lease_until > $2`);
    }
    // Re-running the same patch under the same lease is harmless; a version check is not.
    const [row] = await this.rows<ConnectionRow & { change_seq: number }>(
      this.changes.notifying(`UPDATE connections SET ${sets.join(', ')} WHERE ${where.join(' AND ')}`),
      params,
      opts.expectVersion === undefined,
    );
    if (row) {
      this.changes.changed(row);
      return this.record(row);
    }
    return this.whyNotUpdated(name, opts.expectVersion);
  }

  /** The UPDATE matched nothing: say why (missing row, stale version, lost lease). */
  private async whyNotUpdated(name: string, expectVersion: number | undefined): Promise<never> {
    const [current] = await this.rows<{ version: number }>(`SELECT version FROM connections WHERE name = $1`, [name]);
    if (!current) throw new NotFoundError(`connection "${name}" is not in the store`);
    if (expectVersion !== undefined && current.version !== expectVersion) {
      throw new ConflictError(
        `connection "${name}" changed meanwhile (version ${current.version}, expected ${expectVersion}); re-read it`,
      );
    }
    throw new ConflictError(`connection "${name}": the refresh lease of this owner expired or was taken over`);
  }

  async acquireRefreshLease(name: string, owner: string, ttlMs: number, now: number): Promise<ConnectionRecord | null> {
    // The WHERE clause is re-evaluated on the newest row after a concurrent writer commits, and
    // RETURNING is the row as re-read under the lease (someone may have refreshed meanwhile).
    const [row] = await this.rows<ConnectionRow>(
      `UPDATE connections SET lease_owner = $2, lease_until = $3
       WHERE name = $1 AND (lease_owner IS NULL OR lease_until IS NULL OR lease_until <= $4 OR lease_owner = $2)
       RETURNING *`,
      [name, owner, now + ttlMs, now],
    );
    if (row) return this.record(row);
    const [exists] = await this.rows(`SELECT 1 FROM connections WHERE name = $1`, [name]);
    if (!exists) throw new NotFoundError(`connection "${name}" is not in the store`);
    return null;
  }

  async releaseRefreshLease(name: string, owner: string): Promise<void> {
    await this.rows(
      `UPDATE connections SET lease_owner = NULL, lease_until = NULL WHERE name = $1 AND lease_owner = $2`,
      [name, owner],
    );
  }

  async deleteConnection(name: string): Promise<void> {
    const [row] = await this.rows<{ name: string; change_seq: number }>(
      this.changes.notifying(`DELETE FROM connections WHERE name = $1`),
      [name],
    );
    if (row) this.changes.changed(row);
  }
}
