/**
 * The one place PostgreSQL (`pg`) errors become tokenwarden errors (lower-layer errors are
 * translated once, at the boundary):
 *
 * - the server cannot be reached, is shutting down or starting up, or dropped the connection →
 *   {@link TransientError} (retry later; callers keep serving cached tokens);
 * - anything else (missing database, bad credentials, SQL errors) → {@link StoreError}.
 *
 * Messages name the server as `user@host:port/database` and never the password or bound values
 * (pg error messages carry neither; the connection string is never echoed).
 *
 * @see https://www.postgresql.org/docs/15/errcodes-appendix.html
 */
import { StoreError, TokenwardenError, TransientError } from '../../core/errors.js';

/** `user@host:port/database` from a connection URL, without password or query. */
export function describeTarget(url: string): string {
  try {
    const u = new URL(url);
    const user = u.username ? `${decodeURIComponent(u.username)}@` : '';
    const host = u.hostname || u.searchParams.get('host') || 'localhost';
    const db = decodeURIComponent(u.pathname.replace(/^\//, '')) || '(default database)';
    return `${user}${host}:${u.port || '5432'}/${db}`;
  } catch {
    return 'postgres://(unparseable URL)';
  }
}

const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * True if the error means "the server is not there right now" — connection refused or dropped,
 * admin shutdown (57P01), crash shutdown (57P02), cannot connect now (57P03), connection
 * exceptions (class 08). A statement that failed this way may or may not have committed.
 */
export function isUnavailable(e: unknown): boolean {
  const err = e as { code?: unknown; message?: unknown };
  const code = typeof err.code === 'string' ? err.code : '';
  if (UNREACHABLE_CODES.has(code) || code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03')
    return true;
  const message = typeof err.message === 'string' ? err.message : '';
  return /Connection terminated|connection error|not queryable|Client was closed|timeout exceeded when trying to connect/i.test(
    message,
  );
}

/** True if the statement certainly did not reach the server (safe to retry anything). */
export function isConnectFailure(e: unknown): boolean {
  const err = e as { code?: unknown; message?: unknown };
  const code = typeof err.code === 'string' ? err.code : '';
  if (code === 'ECONNREFUSED' || code === '57P03' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') return true;
  // The pool handed out a client already known to be broken, or could not connect in time.
  const message = typeof err.message === 'string' ? err.message : '';
  return /not queryable|timeout exceeded when trying to connect/i.test(message);
}

export function isUniqueViolation(e: unknown): boolean {
  return (e as { code?: unknown }).code === '23505';
}

/** Translate any error thrown by `pg` (tokenwarden errors pass through). */
export function toStoreError(e: unknown, target: string): Error {
  if (e instanceof TokenwardenError) return e;
  const err = e as { code?: unknown; message?: unknown };
  const code = typeof err.code === 'string' ? err.code : '';
  const message = typeof err.message === 'string' ? err.message : String(e);
  if (isUnavailable(e)) {
    return new TransientError(
      `PostgreSQL store ${target} is unreachable (${code || message}); check that the server is up and the store URL is right`,
      { cause: e },
    );
  }
  if (code === '3D000') {
    return new StoreError(
      `PostgreSQL store ${target}: the database does not exist; create it (CREATE DATABASE) or fix the store URL`,
      {
        cause: e,
      },
    );
  }
  if (code === '28P01' || code === '28000') {
    return new StoreError(
      `PostgreSQL store ${target}: authentication failed (${message}); check the user and password in the store URL`,
      {
        cause: e,
      },
    );
  }
  return new StoreError(`PostgreSQL store ${target}: ${message}${code ? ` (${code})` : ''}`, { cause: e });
}
