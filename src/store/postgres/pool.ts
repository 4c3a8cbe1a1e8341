/**
 * The `pg` pool behind the PostgreSQL store, and the one query path every store method uses:
 * BIGINT columns come back as numbers (epoch milliseconds fit in 2^53), errors are translated
 * once (errors.ts), and a statement that failed because the server was away is retried until it
 * comes back (bounded by `retryMs`), so a database restart costs a pause, not a lost write:
 *
 * - a statement that certainly never reached the server (connection refused, server starting
 *   up) is always retried;
 * - one that was cut off mid-flight may or may not have committed, so it is retried only if the
 *   caller says re-running it is harmless (`idempotent`); otherwise it fails with TransientError.
 */
import pg from 'pg';

import { StoreError } from '../../core/errors.js';
import { isConnectFailure, isUnavailable, toStoreError } from './errors.js';

const INT8_OID = 20;

/** Type parsers for this pool only (no global mutation of `pg.types`). */
const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary'
      ? (value: string) => Number(value)
      : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
};

export interface PoolOptions {
  url: string;
  /** `user@host:port/db` for messages. */
  target: string;
  max?: number;
  /** How long to keep retrying while the server is unreachable (default 15 s). */
  retryMs?: number;
  connectTimeoutMs?: number;
  onTrouble?: (message: string) => void;
}

export class PgPool {
  readonly pool: pg.Pool;
  readonly target: string;
  private readonly retryMs: number;
  private closed = false;

  constructor(private readonly opts: PoolOptions) {
    this.target = opts.target;
    this.retryMs = opts.retryMs ?? 15_000;
    this.pool = new pg.Pool({
      connectionString: opts.url,
      types,
      max: opts.max ?? 10,
      idleTimeoutMillis: 30_000,
      connectionTimeoutMillis: opts.connectTimeoutMs ?? 5_000,
      application_name: 'tokenwarden',
    });
    // An idle client's connection dying (server restart) is reported here; unhandled, it would
    // kill the process. The pool has already discarded the client; the next query reconnects.
    this.pool.on('error', (e: Error) => opts.onTrouble?.(`idle PostgreSQL connection lost: ${e.message}`));
  }

  /** A dedicated client (not from the pool), e.g. for LISTEN. */
  async client(): Promise<pg.Client> {
    const c = new pg.Client({ connectionString: this.opts.url, types, application_name: 'tokenwarden-listen' });
    c.on('error', () => undefined); // replaced by the caller's handler once connected
    try {
      await c.connect();
    } catch (e) {
      await c.end().catch(() => undefined);
      throw e;
    }
    c.removeAllListeners('error');
    return c;
  }

  /** Run one statement, translating errors and riding out a server restart (see file comment). */
  async query<R extends pg.QueryResultRow>(
    sql: string,
    values: unknown[],
    opts: { idempotent: boolean },
  ): Promise<pg.QueryResult<R>> {
    const deadline = Date.now() + this.retryMs;
    let delay = 50;
    for (;;) {
      if (this.closed) throw new StoreError(`PostgreSQL store ${this.target} is closed`);
      try {
        return await this.pool.query<R>(sql, values);
      } catch (e) {
        const retry = isConnectFailure(e) || (opts.idempotent && isUnavailable(e));
        if (!retry || Date.now() + delay > deadline) throw toStoreError(e, this.target);
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 1_000);
      }
    }
  }

  async withClient<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (e) {
      throw toStoreError(e, this.target);
    }
    let broken: unknown;
    try {
      return await fn(client);
    } catch (e) {
      if (isUnavailable(e)) broken = e;
      throw toStoreError(e, this.target);
    } finally {
      client.release(broken instanceof Error ? broken : undefined);
    }
  }

  async end(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }
}
