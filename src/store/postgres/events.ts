/** The event log half of {@link PostgresStore}: append-only, read by id cursor. */
import type { NewEvent, WardenEvent } from '../../core/types.js';
import { eventFromRow, type EventRow } from '../codec.js';
import type { PgRows } from './outbox.js';

const DEFAULT_LIMIT = 100;

export async function appendEvent(rows: PgRows, event: NewEvent, now: number): Promise<WardenEvent> {
  const data = event.data === null ? null : JSON.stringify(event.data);
  const [row] = await rows<EventRow>(
    `INSERT INTO events (at, type, connection, message, data) VALUES ($1, $2, $3, $4, $5) RETURNING *`,
    [event.at ?? now, event.type, event.connection, event.message, data],
    false,
  );
  return eventFromRow(row as EventRow);
}

export async function listEvents(
  rows: PgRows,
  opts: { since?: number; connection?: string; limit?: number; newestFirst?: boolean } = {},
): Promise<WardenEvent[]> {
  const values: unknown[] = [opts.since ?? 0, opts.limit ?? DEFAULT_LIMIT];
  let where = 'id > $1';
  if (opts.connection !== undefined) {
    values.push(opts.connection);
    where += ` AND connection = $3`;
  }
  const order = opts.newestFirst ? 'DESC' : 'ASC';
  const found = await rows<EventRow>(`SELECT * FROM events WHERE ${where} ORDER BY id ${order} LIMIT $2`, values);
  return found.map(eventFromRow);
}

/** Rows deleted per statement while pruning: short transactions, other writers interleave. */
const PRUNE_CHUNK = 5_000;

/**
 * Delete events older than `before` (by `at`) and all but the newest `keep` (by id), in
 * chunks. Returns how many were deleted.
 */
export async function pruneEvents(
  rows: PgRows,
  opts: { before: number; keep: number; chunk?: number },
): Promise<number> {
  const size = Math.max(1, Math.floor(opts.chunk ?? PRUNE_CHUNK));
  let deleted = 0;
  const chunk = async (where: string, arg: number): Promise<void> => {
    for (;;) {
      const [r] = await rows<{ n: number }>(
        `WITH gone AS (
           DELETE FROM events WHERE id IN (SELECT id FROM events WHERE ${where} ORDER BY id LIMIT $2) RETURNING 1
         ) SELECT count(*)::int AS n FROM gone`,
        [arg, size],
        true,
      );
      const n = Number(r?.n ?? 0);
      deleted += n;
      if (n < size) break;
    }
  };
  await chunk('at < $1', opts.before);
  const [cutoff] = await rows<{ id: number | string }>(`SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET $1`, [
    Math.max(0, opts.keep),
  ]);
  if (cutoff) await chunk('id <= $1', Number(cutoff.id));
  return deleted;
}
