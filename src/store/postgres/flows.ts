/**
 * The flows half of {@link PostgresStore}: pending human authorizations, single-use `state`
 * (a unique column), completion as one conditional UPDATE (only an open flow can finish).
 * PKCE verifiers and device codes are sealed as in SQLite.
 */
import { ConflictError, NotFoundError } from '../../core/errors.js';
import { flowFromRow, flowToRow, type FlowRow } from '../codec.js';
import type { FlowPatch, FlowRecord, FlowStatus, NewFlow, Sealer } from '../types.js';
import { isUniqueViolation } from './errors.js';
import type { PgRows } from './outbox.js';

const DEFAULT_LIMIT = 100;

export class PgFlows {
  constructor(
    private readonly rows: PgRows,
    private readonly sealer: Sealer,
  ) {}

  async createFlow(flow: NewFlow): Promise<FlowRecord> {
    const record: FlowRecord = { ...flow, status: 'open', remindedAt: null, completedAt: null, outcome: null };
    const row = flowToRow(this.sealer, record);
    const columns = Object.keys(row);
    try {
      const [inserted] = await this.rows<FlowRow>(
        `INSERT INTO flows (${columns.join(', ')}) VALUES (${columns.map((_, i) => `$${i + 1}`).join(', ')}) RETURNING *`,
        Object.values(row),
        false,
      );
      return flowFromRow(this.sealer, inserted as FlowRow);
    } catch (e) {
      if (isUniqueViolation((e as Error).cause ?? e))
        throw new ConflictError(`a flow with this id or state already exists`);
      throw e;
    }
  }

  async getFlow(id: string): Promise<FlowRecord | null> {
    const [row] = await this.rows<FlowRow>(`SELECT * FROM flows WHERE id = $1`, [id]);
    return row ? flowFromRow(this.sealer, row) : null;
  }

  async findFlowByState(state: string): Promise<FlowRecord | null> {
    const [row] = await this.rows<FlowRow>(`SELECT * FROM flows WHERE state = $1`, [state]);
    return row ? flowFromRow(this.sealer, row) : null;
  }

  async listOpenFlows(connection?: string): Promise<FlowRecord[]> {
    const rows =
      connection === undefined
        ? await this.rows<FlowRow>(`SELECT * FROM flows WHERE status = 'open' ORDER BY created_at DESC, seq DESC`, [])
        : await this.rows<FlowRow>(
            `SELECT * FROM flows WHERE status = 'open' AND connection = $1 ORDER BY created_at DESC, seq DESC`,
            [connection],
          );
    return rows.map((r) => flowFromRow(this.sealer, r));
  }

  async listFlows(opts: { connection?: string; limit?: number } = {}): Promise<FlowRecord[]> {
    const limit = opts.limit ?? DEFAULT_LIMIT;
    const rows =
      opts.connection === undefined
        ? await this.rows<FlowRow>(`SELECT * FROM flows ORDER BY created_at DESC, seq DESC LIMIT $1`, [limit])
        : await this.rows<FlowRow>(
            `SELECT * FROM flows WHERE connection = $1 ORDER BY created_at DESC, seq DESC LIMIT $2`,
            [opts.connection, limit],
          );
    return rows.map((r) => flowFromRow(this.sealer, r));
  }

  async updateFlow(id: string, patch: FlowPatch): Promise<FlowRecord> {
    const sets: string[] = [];
    const values: unknown[] = [id];
    const set = (column: string, value: unknown): void => {
      if (value === undefined) return;
      values.push(value);
      sets.push(`${column} = $${values.length}`);
    };
    set('asked_via', patch.askedVia === undefined ? undefined : JSON.stringify(patch.askedVia));
    set('reminded_at', patch.remindedAt);
    set('outcome', patch.outcome);
    set('url', patch.url);
    set('expires_at', patch.expiresAt);
    const [row] =
      sets.length > 0
        ? await this.rows<FlowRow>(`UPDATE flows SET ${sets.join(', ')} WHERE id = $1 RETURNING *`, values)
        : await this.rows<FlowRow>(`SELECT * FROM flows WHERE id = $1`, values);
    if (!row) throw new NotFoundError(`flow ${id} is not in the store`);
    return flowFromRow(this.sealer, row);
  }

  async finishFlow(
    id: string,
    status: Exclude<FlowStatus, 'open'>,
    now: number,
    outcome: string | null,
  ): Promise<boolean> {
    // Not idempotent: a second run would say "already used" about our own completion.
    const rows = await this.rows(
      `UPDATE flows SET status = $2, completed_at = $3, outcome = $4 WHERE id = $1 AND status = 'open' RETURNING id`,
      [id, status, now, outcome],
      false,
    );
    return rows.length === 1;
  }
}
