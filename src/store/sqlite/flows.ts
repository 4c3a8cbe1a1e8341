/**
 * The `flows` table (human-assisted authorizations; `state` unique, finishing is single-use)
 * and the append-only `events` table.
 */
import { ConflictError, NotFoundError } from '../../core/errors.js';
import type { NewEvent, WardenEvent } from '../../core/types.js';
import type { FlowPatch, FlowRecord, FlowStatus, NewFlow } from '../types.js';
import type { Db } from './db.js';
import { eventFromRow, flowFromRow, flowToRow, type EventRow, type FlowRow, type SqlValue } from '../codec.js';

export const DEFAULT_LIMIT = 100;
const NEWEST_FIRST = 'ORDER BY created_at DESC, rowid DESC';

export function isUniqueViolation(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

function row(db: Db, id: string): FlowRow | undefined {
  return db.q(`SELECT * FROM flows WHERE id = ?`).get(id) as FlowRow | undefined;
}

export function createFlow(db: Db, flow: NewFlow): FlowRecord {
  const record: FlowRecord = { ...flow, status: 'open', remindedAt: null, completedAt: null, outcome: null };
  const r = flowToRow(db.sealer, record);
  const columns = Object.keys(r);
  try {
    db.q(`INSERT INTO flows (${columns.join(', ')}) VALUES (${columns.map((c) => '@' + c).join(', ')})`).run(r);
  } catch (e) {
    if (isUniqueViolation(e)) throw new ConflictError('a flow with this id or state already exists');
    throw e;
  }
  return flowFromRow(db.sealer, row(db, flow.id) as FlowRow);
}

export function getFlow(db: Db, id: string): FlowRecord | null {
  const r = row(db, id);
  return r ? flowFromRow(db.sealer, r) : null;
}

export function findFlowByState(db: Db, state: string): FlowRecord | null {
  const r = db.q(`SELECT * FROM flows WHERE state = ?`).get(state) as FlowRow | undefined;
  return r ? flowFromRow(db.sealer, r) : null;
}

export function listOpenFlows(db: Db, connection?: string): FlowRecord[] {
  const rows =
    connection === undefined
      ? db.q(`SELECT * FROM flows WHERE status = 'open' ${NEWEST_FIRST}`).all()
      : db.q(`SELECT * FROM flows WHERE status = 'open' AND connection = ? ${NEWEST_FIRST}`).all(connection);
  return (rows as FlowRow[]).map((r) => flowFromRow(db.sealer, r));
}

export function listFlows(db: Db, opts: { connection?: string; limit?: number }): FlowRecord[] {
  const limit = opts.limit ?? DEFAULT_LIMIT;
  const rows =
    opts.connection === undefined
      ? db.q(`SELECT * FROM flows ${NEWEST_FIRST} LIMIT ?`).all(limit)
      : db.q(`SELECT * FROM flows WHERE connection = ? ${NEWEST_FIRST} LIMIT ?`).all(opts.connection, limit);
  return (rows as FlowRow[]).map((r) => flowFromRow(db.sealer, r));
}

export function updateFlow(db: Db, id: string, patch: FlowPatch): FlowRecord {
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
  if (sets.length > 0) db.q(`UPDATE flows SET ${sets.join(', ')} WHERE id = ?`).run(...values, id);
  const r = row(db, id);
  if (!r) throw new NotFoundError(`flow ${id} is not in the store`);
  return flowFromRow(db.sealer, r);
}

/** The atomic `open → status` step that makes a `state` single-use: true only for the winner. */
export function finishFlow(
  db: Db,
  id: string,
  status: Exclude<FlowStatus, 'open'>,
  now: number,
  outcome: string | null,
): boolean {
  return (
    db
      .q(`UPDATE flows SET status = ?, completed_at = ?, outcome = ? WHERE id = ? AND status = 'open'`)
      .run(status, now, outcome, id).changes === 1
  );
}

export function appendEvent(db: Db, event: NewEvent, now: number): WardenEvent {
  const at = event.at ?? now;
  const data = event.data === null ? null : JSON.stringify(event.data);
  const info = db
    .q(`INSERT INTO events (at, type, connection, message, data) VALUES (?, ?, ?, ?, ?)`)
    .run(at, event.type, event.connection, event.message, data);
  return eventFromRow({
    id: Number(info.lastInsertRowid),
    at,
    type: event.type,
    connection: event.connection,
    message: event.message,
    data,
  });
}

export function listEvents(
  db: Db,
  opts: { since?: number; connection?: string; limit?: number; newestFirst?: boolean },
): WardenEvent[] {
  const where = ['id > ?'];
  const values: SqlValue[] = [opts.since ?? 0];
  if (opts.connection !== undefined) {
    where.push('connection = ?');
    values.push(opts.connection);
  }
  const order = opts.newestFirst ? 'DESC' : 'ASC';
  const rows = db
    .q(`SELECT * FROM events WHERE ${where.join(' AND ')} ORDER BY id ${order} LIMIT ?`)
    .all(...values, opts.limit ?? DEFAULT_LIMIT) as EventRow[];
  return rows.map(eventFromRow);
}

/** Rows deleted per statement while pruning: short write locks, other writers interleave. */
const PRUNE_CHUNK = 5_000;

/**
 * Delete events older than `before` (by `at`) and all but the newest `keep` (by id), in
 * chunks. Returns how many were deleted.
 */
export function pruneEvents(db: Db, opts: { before: number; keep: number; chunk?: number }): number {
  const size = Math.max(1, Math.floor(opts.chunk ?? PRUNE_CHUNK));
  let deleted = 0;
  const chunk = (where: string, arg: number): void => {
    const stmt = db.q(`DELETE FROM events WHERE id IN (SELECT id FROM events WHERE ${where} ORDER BY id LIMIT ?)`);
    for (;;) {
      const n = stmt.run(arg, size).changes;
      deleted += n;
      if (n < size) break;
    }
  };
  chunk('at < ?', opts.before);
  const cutoff = db.q(`SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET ?`).get(Math.max(0, opts.keep)) as
    { id: number } | undefined;
  if (cutoff) chunk('id <= ?', cutoff.id);
  return deleted;
}
