/**
 * HTTP status codes, mapped from error `code` in this one place (HTTP status and exit codes
 * are mapped in one place each, see docs/architecture.md; the exit-code twin is
 * cli/exit-codes.ts), and the one JSON error body every route answers with: `{ "error": { "code": "TW_…", "message": … } }`.
 */
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { TokenwardenError, TransientError, type ErrorCode } from '../core/errors.js';
import type { Logger } from '../core/logger.js';

const STATUS: Record<ErrorCode, ContentfulStatusCode> = {
  TW_BAD_INPUT: 400,
  TW_USAGE: 400,
  TW_UNAUTHORIZED: 401,
  TW_NOT_FOUND: 404,
  // The grant is dead until a human acts: the request conflicts with the connection's state.
  TW_REAUTH_REQUIRED: 409,
  TW_CONFLICT: 409,
  TW_RATE_LIMITED: 429,
  // Refused by configuration (e.g. a method or path outside the API proxy's allow-list).
  TW_FORBIDDEN: 403,
  TW_TOO_LARGE: 413,
  TW_INTERNAL: 500,
  TW_CONFIG: 500,
  TW_STORE: 500,
  TW_KEY: 500,
  // An upstream (provider or mail route) answered definitively but not with what we need.
  TW_PROVIDER_ERROR: 502,
  TW_MAIL: 502,
  TW_PROVIDER_UNAVAILABLE: 503,
  TW_TIMEOUT: 504,
};

/** The HTTP status for an error code (unknown codes are internal errors). */
export function statusForCode(code: string): ContentfulStatusCode {
  return (STATUS as Record<string, ContentfulStatusCode>)[code] ?? 500;
}

/** Seconds for a `Retry-After` header, if the error says when to come back. */
export function retryAfterSeconds(err: unknown, fallbackMs = 5_000): number | undefined {
  if (err instanceof TransientError) return Math.max(1, Math.ceil((err.retryAfterMs ?? fallbackMs) / 1000));
  if (err instanceof RateLimitedError) return Math.max(1, Math.ceil(err.retryAfterMs / 1000));
  return undefined;
}

/** Too many failed attempts (from this client, or from all together); come back after `retryAfterMs`. */
export class RateLimitedError extends TokenwardenError {
  constructor(readonly retryAfterMs: number) {
    super('TW_RATE_LIMITED', 'Too many failed authentication attempts; slow down. A correct key is still accepted.');
  }
}

/**
 * Answer `err` as the JSON error body with its mapped status. Unknown errors become
 * TW_INTERNAL with a generic message (their text may carry anything) and are logged.
 */
export function errorResponse(c: Context, err: unknown, logger?: Logger): Response {
  let body: Record<string, unknown>;
  let status: ContentfulStatusCode;
  if (err instanceof TokenwardenError) {
    body = err.toJSON();
    status = statusForCode(err.code);
  } else {
    logger?.error('unexpected error in HTTP route', {
      path: c.req.path,
      error: err instanceof Error ? err.message : String(err),
    });
    body = { code: 'TW_INTERNAL', message: 'Internal error; see the server log.' };
    status = 500;
  }
  const retry = retryAfterSeconds(err);
  if (retry !== undefined) c.header('Retry-After', String(retry));
  c.header('Cache-Control', 'no-store');
  return c.json({ error: body }, status);
}
