/**
 * The outbox half of {@link PostgresStore}: enqueue with an idempotency key, claims with
 * `FOR UPDATE SKIP LOCKED` (concurrent senders take disjoint messages), claim-checked updates.
 * Payloads are sealed as in SQLite (AAD `outbox:<id>:payload`).
 */
import type pg from 'pg';
import { ConflictError, StoreError } from '../../core/errors.js';
import { aad, outboxFromRow, type OutboxRow } from '../codec.js';
import type { NewOutboxMessage, OutboxPatch, OutboxRecord, OutboxStats, OutboxStatus, Sealer } from '../types.js';
import { isUniqueViolation } from './errors.js';

const DEFAULT_LIMIT = 100;

export type PgRows = <R extends pg.QueryResultRow>(
  sql: string,
  values: unknown[],
  idempotent?: boolean,
) => Promise<R[]>;

export class PgOutbox {
  constructor(
    private readonly rows: PgRows,
    private readonly sealer: Sealer,
  ) {}

  /** With `claim`, a new row is inserted already claimed (`sending` under that owner). */
  async enqueueMessage(
    msg: NewOutboxMessage,
    now: number,
    claim?: { owner: string; leaseMs: number },
  ): Promise<{ record: OutboxRecord; created: boolean }> {
    let inserted: OutboxRow | undefined;
    try {
      [inserted] = await this.rows<OutboxRow>(
        `INSERT INTO outbox (id, mailbox, idempotency_key, message_id, payload, status, attempts, next_attempt_at,
                             lease_owner, lease_until, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8, $9, $10)
         ON CONFLICT (mailbox, idempotency_key) DO NOTHING RETURNING *`,
        [
          msg.id,
          msg.mailbox,
          msg.idempotencyKey,
          msg.messageId,
          this.sealer.seal(msg.payload, aad('outbox', msg.id, 'payload')),
          claim ? 'sending' : 'pending',
          now,
          claim ? claim.owner : null,
          claim ? now + claim.leaseMs : null,
          msg.createdAt,
        ],
      );
    } catch (e) {
      if (isUniqueViolation((e as Error).cause ?? e))
        throw new ConflictError(`outbox message ${msg.id} already exists`);
      throw e;
    }
    if (inserted) return { record: outboxFromRow(this.sealer, inserted), created: true };
    const [existing] = await this.rows<OutboxRow>(`SELECT * FROM outbox WHERE mailbox = $1 AND idempotency_key = $2`, [
      msg.mailbox,
      msg.idempotencyKey,
    ]);
    if (!existing) throw new StoreError(`outbox message ${msg.id} vanished while being enqueued; retry`);
    return { record: outboxFromRow(this.sealer, existing), created: false };
  }

  async getMessage(id: string): Promise<OutboxRecord | null> {
    const [row] = await this.rows<OutboxRow>(`SELECT * FROM outbox WHERE id = $1`, [id]);
    return row ? outboxFromRow(this.sealer, row) : null;
  }

  async claimMessages(opts: {
    owner: string;
    now: number;
    leaseMs: number;
    limit: number;
    mailbox?: string;
    id?: string;
  }): Promise<OutboxRecord[]> {
    const values: unknown[] = [opts.owner, opts.now + opts.leaseMs, opts.now, opts.limit];
    let filter = '';
    if (opts.mailbox !== undefined) {
      values.push(opts.mailbox);
      filter += `mailbox = $${values.length} AND `;
    }
    if (opts.id !== undefined) {
      values.push(opts.id);
      filter += `id = $${values.length} AND `;
    }
    // SKIP LOCKED: a row another sender is claiming right now is left to it, not waited for.
    const rows = await this.rows<OutboxRow>(
      `UPDATE outbox SET status = 'sending', lease_owner = $1, lease_until = $2
       WHERE id IN (
         SELECT id FROM outbox
         WHERE ${filter}((status = 'pending' AND next_attempt_at <= $3)
                OR (status = 'sending' AND (lease_until IS NULL OR lease_until <= $3)))
         ORDER BY next_attempt_at, created_at, id
         LIMIT $4
         FOR UPDATE SKIP LOCKED)
       RETURNING *`,
      values,
      false,
    );
    rows.sort(
      (a, b) =>
        a.next_attempt_at - b.next_attempt_at ||
        a.created_at - b.created_at ||
        (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
    );
    return rows.map((r) => outboxFromRow(this.sealer, r));
  }

  async updateMessage(id: string, patch: OutboxPatch, opts: { owner?: string }): Promise<OutboxRecord | null> {
    const sets: string[] = [];
    const values: unknown[] = [id];
    const set = (column: string, value: unknown): void => {
      if (value === undefined) return;
      values.push(value);
      sets.push(`${column} = $${values.length}`);
    };
    set('status', patch.status);
    set('attempts', patch.attempts);
    set('next_attempt_at', patch.nextAttemptAt);
    set('route', patch.route);
    set('last_error', patch.lastError);
    set('sent_at', patch.sentAt);
    // Leaving `sending` ends the claim.
    if (patch.status !== undefined && patch.status !== 'sending') sets.push('lease_owner = NULL', 'lease_until = NULL');
    if (sets.length === 0) sets.push('id = id');
    let where = 'id = $1';
    if (opts.owner !== undefined) {
      values.push(opts.owner);
      where += ` AND lease_owner = $${values.length}`;
    }
    const [row] = await this.rows<OutboxRow>(`UPDATE outbox SET ${sets.join(', ')} WHERE ${where} RETURNING *`, values);
    return row ? outboxFromRow(this.sealer, row) : null;
  }

  async listMessages(opts: { mailbox?: string; status?: OutboxStatus; limit?: number } = {}): Promise<OutboxRecord[]> {
    const where: string[] = [];
    const values: unknown[] = [opts.limit ?? DEFAULT_LIMIT];
    if (opts.mailbox !== undefined) {
      values.push(opts.mailbox);
      where.push(`mailbox = $${values.length}`);
    }
    if (opts.status !== undefined) {
      values.push(opts.status);
      where.push(`status = $${values.length}`);
    }
    const clause = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
    const rows = await this.rows<OutboxRow>(
      `SELECT * FROM outbox ${clause} ORDER BY created_at DESC, seq DESC LIMIT $1`,
      values,
    );
    return rows.map((r) => outboxFromRow(this.sealer, r));
  }

  async outboxStats(mailbox?: string): Promise<OutboxStats> {
    const rows = await this.rows<{ status: OutboxStatus; n: number; oldest: number }>(
      `SELECT status, COUNT(*) AS n, MIN(created_at) AS oldest FROM outbox ${mailbox === undefined ? '' : 'WHERE mailbox = $1'} GROUP BY status`,
      mailbox === undefined ? [] : [mailbox],
    );
    const stats: OutboxStats = { pending: 0, sending: 0, sent: 0, failed: 0, oldestPendingAt: null };
    for (const r of rows) {
      stats[r.status] = Number(r.n);
      if ((r.status === 'pending' || r.status === 'sending') && (stats.oldestPendingAt ?? Infinity) > r.oldest) {
        stats.oldestPendingAt = r.oldest;
      }
    }
    return stats;
  }
}
