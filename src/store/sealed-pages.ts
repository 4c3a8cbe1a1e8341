/**
 * Walking every sealed value of a store a page at a time, in row-key order, with the sealing
 * rules of codec.ts: key rotation (`Store.reseal` on both engines) re-seals each value, and
 * `migrate` opens each one in the target after the copy. Memory stays flat at any store size.
 */
import { StoreError } from '../core/errors.js';
import { aad, SEALED, type SealedColumn, type SealedTable, type SealedTableRule } from './codec.js';
import type { Sealer } from './types.js';

/** Rows per page while re-sealing: memory stays flat however many rows the store holds. */
export const RESEAL_PAGE_ROWS = 500;

/** A page of rows as read for re-sealing: the row key as `k`, then the sealed columns. */
export type SealedRow = { k: string } & Record<string, string | null>;

/**
 * The statements an engine runs to re-seal one table, page by page in row-key order: `first`
 * takes (limit), `next` takes (after, limit) and returns rows whose key sorts after `after`;
 * both return {@link SealedRow}s. `update` sets the sealed columns (in `columns` order), then
 * takes the row key. `p(i)` renders the i-th (1-based) placeholder of the engine.
 */
export function resealStatements(
  table: SealedTable,
  p: (i: number) => string,
): { columns: readonly string[]; first: string; next: string; update: string } {
  const rule: SealedTableRule = SEALED[table];
  const only = rule.rows ? ` AND ${rule.key} IN (${rule.rows.map((r) => `'${r}'`).join(', ')})` : '';
  const select = (where: string, limit: string): string =>
    `SELECT ${rule.key} AS k, ${rule.columns.join(', ')} FROM ${table} WHERE ${where}${only} ` +
    `ORDER BY ${rule.key} LIMIT ${limit}`;
  return {
    columns: rule.columns,
    first: select('TRUE', p(1)),
    next: select(`${rule.key} > ${p(1)}`, p(2)),
    update:
      `UPDATE ${table} SET ${rule.columns.map((c, i) => `${c} = ${p(i + 1)}`).join(', ')} ` +
      `WHERE ${rule.key} = ${p(rule.columns.length + 1)}`,
  };
}

/**
 * Re-seal one row's sealed values from `from` to `to` with the same associated data, checking
 * that each new value opens to the same plaintext. Returns the new values in `columns` order
 * (null stays null) and how many were re-sealed. Throws KeyError if a value does not open with
 * `from` (wrong key, moved or altered value).
 */
export function resealRow<T extends SealedTable>(
  from: Sealer,
  to: Sealer,
  table: T,
  row: SealedRow,
): { values: Array<string | null>; count: number } {
  const columns: ReadonlyArray<SealedColumn<T>> = SEALED[table].columns;
  let count = 0;
  const values = columns.map((column) => {
    const sealed = row[column];
    if (sealed === null || sealed === undefined) return null;
    const ad = aad(table, String(row.k), column);
    const plaintext = from.open(sealed, ad);
    const next = to.seal(plaintext, ad);
    if (to.open(next, ad) !== plaintext)
      throw new StoreError(`re-sealed value for ${ad} does not open with the new key`);
    count++;
    return next;
  });
  return { values, count };
}

/** Open every sealed value of one row (as read by {@link resealStatements}); throws if one does not. */
export function openSealedRow<T extends SealedTable>(sealer: Sealer, table: T, row: SealedRow): void {
  for (const column of SEALED[table].columns as ReadonlyArray<SealedColumn<T>>) {
    const sealed = row[column];
    if (sealed !== null && sealed !== undefined) sealer.open(sealed, aad(table, String(row.k), column));
  }
}
