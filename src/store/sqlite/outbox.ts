/**
 * The `outbox` table (durable outgoing mail, sealed payloads, claims with expiring leases) and
 * the `leases` table (leader-only work). Claims run inside one immediate transaction.
 */
import { ConflictError } from '../../core/errors.js';
import type { NewOutboxMessage, OutboxPatch, OutboxRecord, OutboxStats, OutboxStatus } from '../types.js';
import type { Db } from './db.js';
import { DEFAULT_LIMIT, isUniqueViolation } from './flows.js';
import { aad, outboxFromRow, type OutboxRow, type SqlValue } from '../codec.js';

function row(db: Db, id: string): OutboxRow | undefined {
  return db.q(`SELECT * FROM outbox WHERE id = ?`).get(id) as OutboxRow | undefined;
}

/**
 * Run inside an immediate transaction (look up, then insert). With `claim`, the new row is
 * inserted already claimed (`sending` under that owner). The new record is built from what was
 * written, without reading it back.
 */
export function enqueueMessage(
  db: Db,
  msg: NewOutboxMessage,
  now: number,
  claim?: { owner: string; leaseMs: number },
): { record: OutboxRecord; created: boolean } {
  const sealed = db.sealer.seal(msg.payload, aad('outbox', msg.id, 'payload'));
  const { existing } = enqueueRow(db, { ...msg, payload: sealed }, now, claim);
  if (existing) return { record: outboxFromRow(db.sealer, existing), created: false };
  return { record: newRecord(msg, now, claim), created: true };
}

/** The record {@link enqueueRow} wrote for a new message (payload as given). */
export function newRecord(
  msg: NewOutboxMessage,
  now: number,
  claim?: { owner: string; leaseMs: number },
): OutboxRecord {
  return {
    ...msg,
    status: claim ? 'sending' : 'pending',
    attempts: 0,
    nextAttemptAt: now,
    leaseOwner: claim ? claim.owner : null,
    leaseUntil: claim ? now + claim.leaseMs : null,
    route: null,
    lastError: null,
    sentAt: null,
  };
}

/**
 * {@link enqueueMessage} without the key: `msg.payload` is already sealed; the row of an
 * existing message with the same idempotency key comes back as stored (sealed).
 */
export function enqueueRow(
  db: Db,
  msg: NewOutboxMessage,
  now: number,
  claim?: { owner: string; leaseMs: number },
): { existing: OutboxRow | null } {
  const existing = db
    .q(`SELECT * FROM outbox WHERE mailbox = ? AND idempotency_key = ?`)
    .get(msg.mailbox, msg.idempotencyKey) as OutboxRow | undefined;
  if (existing) return { existing };
  try {
    db.q(
      `INSERT INTO outbox (id, mailbox, idempotency_key, message_id, payload, status, attempts, next_attempt_at,
                           lease_owner, lease_until, created_at)
       VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?)`,
    ).run(
      msg.id,
      msg.mailbox,
      msg.idempotencyKey,
      msg.messageId,
      msg.payload,
      claim ? 'sending' : 'pending',
      now,
      claim ? claim.owner : null,
      claim ? now + claim.leaseMs : null,
      msg.createdAt,
    );
  } catch (e) {
    if (isUniqueViolation(e)) throw new ConflictError(`outbox message ${msg.id} already exists`);
    throw e;
  }
  return { existing: null };
}

export function getMessage(db: Db, id: string): OutboxRecord | null {
  const r = row(db, id);
  return r ? outboxFromRow(db.sealer, r) : null;
}

export interface ClaimOptions {
  owner: string;
  now: number;
  leaseMs: number;
  limit: number;
  mailbox?: string;
  id?: string;
}

/** Run inside an immediate transaction: select due rows and mark them ours atomically. */
export function claimMessages(db: Db, opts: ClaimOptions): OutboxRecord[] {
  return claimRows(db, opts).map((r) => outboxFromRow(db.sealer, r));
}

/** {@link claimMessages} without the key: the claimed rows as stored (sealed). */
export function claimRows(db: Db, opts: ClaimOptions): OutboxRow[] {
  // Due: pending and time has come, or `sending` whose sender's lease ran out (it crashed).
  const due = `((status = 'pending' AND next_attempt_at <= ?)
                OR (status = 'sending' AND (lease_until IS NULL OR lease_until <= ?)))`;
  const order = 'ORDER BY next_attempt_at, created_at, id LIMIT ?';
  const where: string[] = [];
  const values: SqlValue[] = [];
  if (opts.id !== undefined) {
    where.push('id = ?');
    values.push(opts.id);
  }
  if (opts.mailbox !== undefined) {
    where.push('mailbox = ?');
    values.push(opts.mailbox);
  }
  where.push(due);
  const ids = db
    .q(`SELECT id FROM outbox WHERE ${where.join(' AND ')} ${order}`)
    .all(...values, opts.now, opts.now, opts.limit) as { id: string }[];
  const claim = db.q(`UPDATE outbox SET status = 'sending', lease_owner = ?, lease_until = ? WHERE id = ?`);
  return ids.map(({ id }) => {
    claim.run(opts.owner, opts.now + opts.leaseMs, id);
    return row(db, id) as OutboxRow;
  });
}

/**
 * Apply `patch`; with `owner`, only if that owner still holds the claim (nobody re-claimed the
 * message). Moving out of `sending` ends the claim. Null if absent or not ours.
 */
export function updateMessage(db: Db, id: string, patch: OutboxPatch, opts: { owner?: string }): OutboxRecord | null {
  const r = updateRow(db, id, patch, opts);
  return r ? outboxFromRow(db.sealer, r) : null;
}

/** {@link updateMessage} without the key: the updated row as stored (sealed). */
export function updateRow(db: Db, id: string, patch: OutboxPatch, opts: { owner?: string }): OutboxRow | null {
  const sets: string[] = [];
  const values: SqlValue[] = [];
  const set = (column: string, value: SqlValue | undefined): void => {
    if (value === undefined) return;
    sets.push(`${column} = ?`);
    values.push(value);
  };
  set('status', patch.status);
  set('attempts', patch.attempts);
  set('next_attempt_at', patch.nextAttemptAt);
  set('route', patch.route);
  set('last_error', patch.lastError);
  set('sent_at', patch.sentAt);
  if (patch.status !== undefined && patch.status !== 'sending') sets.push('lease_owner = NULL', 'lease_until = NULL');
  if (sets.length === 0) sets.push('id = id');
  const info =
    opts.owner === undefined
      ? db.q(`UPDATE outbox SET ${sets.join(', ')} WHERE id = ?`).run(...values, id)
      : db.q(`UPDATE outbox SET ${sets.join(', ')} WHERE id = ? AND lease_owner = ?`).run(...values, id, opts.owner);
  if (info.changes === 0) return null;
  return row(db, id) as OutboxRow;
}

/** Newest first. */
export function listMessages(
  db: Db,
  opts: { mailbox?: string; status?: OutboxStatus; limit?: number },
): OutboxRecord[] {
  const where: string[] = [];
  const values: SqlValue[] = [];
  if (opts.mailbox !== undefined) {
    where.push('mailbox = ?');
    values.push(opts.mailbox);
  }
  if (opts.status !== undefined) {
    where.push('status = ?');
    values.push(opts.status);
  }
  const clause = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
  const rows = db
    .q(`SELECT * FROM outbox ${clause} ORDER BY created_at DESC, rowid DESC LIMIT ?`)
    .all(...values, opts.limit ?? DEFAULT_LIMIT) as OutboxRow[];
  return rows.map((r) => outboxFromRow(db.sealer, r));
}

export function outboxStats(db: Db, mailbox?: string): OutboxStats {
  const rows = (
    mailbox === undefined
      ? db.q(`SELECT status, COUNT(*) AS n, MIN(created_at) AS oldest FROM outbox GROUP BY status`).all()
      : db
          .q(`SELECT status, COUNT(*) AS n, MIN(created_at) AS oldest FROM outbox WHERE mailbox = ? GROUP BY status`)
          .all(mailbox)
  ) as { status: OutboxStatus; n: number; oldest: number }[];
  const stats: OutboxStats = { pending: 0, sending: 0, sent: 0, failed: 0, oldestPendingAt: null };
  for (const r of rows) {
    stats[r.status] = r.n;
    if ((r.status === 'pending' || r.status === 'sending') && (stats.oldestPendingAt ?? Infinity) > r.oldest) {
      stats.oldestPendingAt = r.oldest;
    }
  }
  return stats;
}

// ---------------------------------------------------------------- leader leases

/** Take or renew `key` if free, expired or ours, in one conditional upsert. */
export function acquireLease(db: Db, key: string, owner: string, ttlMs: number, now: number): boolean {
  return (
    db
      .q(
        `INSERT INTO leases (key, owner, until) VALUES (?, ?, ?)
         ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, until = excluded.until
         WHERE leases.owner = excluded.owner OR leases.until <= ?`,
      )
      .run(key, owner, now + ttlMs, now).changes === 1
  );
}

export function releaseLease(db: Db, key: string, owner: string): void {
  db.q(`DELETE FROM leases WHERE key = ? AND owner = ?`).run(key, owner);
}

export function getLease(db: Db, key: string): { owner: string; until: number } | null {
  const r = db.q(`SELECT owner, until FROM leases WHERE key = ?`).get(key) as
    { owner: string; until: number } | undefined;
  return r ? { owner: r.owner, until: r.until } : null;
}
