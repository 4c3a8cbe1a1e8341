/**
 * How a route failure must be handled, decided once at the route boundary (errors are classed
 * by how the caller must react).
 *
 * - `auth`: the credential behind the route is not accepted (HTTP 401/403-auth, SMTP 535/534,
 *   IMAP AUTHENTICATIONFAILED, or the TokenSource said a human must re-authorize). Opens the
 *   route's circuit; the next route is tried at once.
 * - `transient`: 429, 5xx, network, timeouts. Retried with backoff, honouring Retry-After.
 * - `permanent`: the provider refused this message (4xx content error, 5xx SMTP reply to the
 *   envelope/data). The message is recorded as `failed`, never retried.
 */
import { InputError, ReauthRequiredError, TokenwardenError, TransientError } from '../core/errors.js';

/** `Retry-After` is read by the one HTTP policy (core/http-policy.ts); re-exported for the routes. */
export { parseRetryAfter } from '../core/http-policy.js';

export type FailureKind = 'auth' | 'transient' | 'permanent';

/** A route failed. `message` is safe to store and show: never a token, password or body. */
export class RouteError extends TokenwardenError {
  readonly kind: FailureKind;
  readonly route: string;
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;
  constructor(
    kind: FailureKind,
    route: string,
    message: string,
    opts: { status?: number | undefined; retryAfterMs?: number | undefined; cause?: unknown } = {},
  ) {
    super('TW_MAIL', `${route}: ${message}`, { cause: opts.cause });
    this.kind = kind;
    this.route = route;
    this.status = opts.status;
    this.retryAfterMs = opts.retryAfterMs;
  }
  override toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, kind: this.kind, route: this.route, status: this.status };
  }
}

/** Invalid message input, naming the offending field (`to`, `attachments[0].content`, ...). */
export class MailInputError extends InputError {
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.field = field;
  }
  override toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, field: this.field };
  }
}

/**
 * Translate anything a route (or the TokenSource it used) threw into a {@link RouteError}.
 * Unknown errors count as transient: a bug or an odd network failure must not drop mail.
 */
export function toRouteError(route: string, e: unknown): RouteError {
  if (e instanceof RouteError) return e;
  if (e instanceof ReauthRequiredError) {
    return new RouteError('auth', route, `connection "${e.connection}" needs re-authorization (${e.diagnosis.id})`, {
      cause: e,
    });
  }
  if (e instanceof TransientError) {
    return new RouteError('transient', route, e.message, { status: e.status, retryAfterMs: e.retryAfterMs, cause: e });
  }
  const code = errorCode(e);
  const msg = e instanceof Error ? e.message : String(e);
  return new RouteError('transient', route, code ? `${code}: ${firstLine(msg)}` : firstLine(msg), { cause: e });
}

/** `err.code` of Node/nodemailer/imapflow errors, if any. */
export function errorCode(e: unknown): string | undefined {
  if (e && typeof e === 'object' && 'code' in e && typeof (e as { code: unknown }).code === 'string') {
    return (e as { code: string }).code;
  }
  return undefined;
}

export function firstLine(s: string): string {
  const line = s.split(/\r?\n/, 1)[0] ?? '';
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}
