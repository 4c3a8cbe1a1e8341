/**
 * Walking every connection at flat memory: {@link connectionPages} reads a page of rows at a
 * time through `Store.pageConnections` (name order), so no caller holds every decrypted row at
 * once. Use `listConnectionFacts` instead where no secret is needed.
 */
import { UsageError } from '../core/errors.js';
import type { ConnectionRecord, Store } from './types.js';

/** Rows per page when the caller does not say. */
export const CONNECTION_PAGE_ROWS = 500;

/** A page size as given, or a clear error (a page of 0 or 1.5 rows would loop or mislead). */
export function pageLimit(limit: number): number {
  if (!Number.isInteger(limit) || limit < 1)
    throw new UsageError(`a page of connections needs a whole number of rows ≥ 1, got ${String(limit)}`);
  return limit;
}

/** Every connection, one page at a time, in name order. */
export async function* connectionPages(
  store: Pick<Store, 'pageConnections'>,
  pageRows = CONNECTION_PAGE_ROWS,
): AsyncGenerator<ConnectionRecord[]> {
  let after: string | null = null;
  for (;;) {
    const page = await store.pageConnections({ after, limit: pageRows });
    if (page.length > 0) yield page;
    if (page.length < pageRows) return;
    after = (page[page.length - 1] as ConnectionRecord).name;
  }
}
