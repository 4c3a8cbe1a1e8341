/**
 * Errors by how the caller must react: few classes, a stable `code`, the ES2022 `cause`.
 *
 * - {@link ReauthRequiredError}: permanent until a human acts.
 * - {@link TransientError}: the provider or network is unavailable; retry later.
 * - {@link ProviderError}: the provider gave a definitive answer (an OAuth `error` code).
 *   The keeper translates it into a {@link ReauthRequiredError} where it means the grant is dead.
 * - {@link ConfigError}, {@link StoreError}, {@link KeyError}, {@link InputError}, {@link NotFoundError}.
 *
 * Exit codes and HTTP statuses are mapped from `code` in one place each (cli/exit-codes.ts,
 * server/error-status.ts). Messages never contain secret values.
 */

export type ErrorCode =
  | 'TW_REAUTH_REQUIRED'
  | 'TW_PROVIDER_UNAVAILABLE'
  | 'TW_PROVIDER_ERROR'
  | 'TW_CONFIG'
  | 'TW_USAGE'
  | 'TW_STORE'
  | 'TW_KEY'
  | 'TW_BAD_INPUT'
  | 'TW_NOT_FOUND'
  | 'TW_CONFLICT'
  | 'TW_TIMEOUT'
  | 'TW_MAIL'
  | 'TW_UNAUTHORIZED'
  | 'TW_RATE_LIMITED'
  | 'TW_FORBIDDEN'
  | 'TW_TOO_LARGE'
  | 'TW_INTERNAL';

export class TokenwardenError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
  /** Plain JSON for APIs/logs: never includes secrets (messages are written not to). */
  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message };
  }
}

/**
 * How sure a diagnosis is: `known` — the provider said so, or the operator declared it (e.g.
 * `app_status: testing`); `likely` — inferred from facts such as the grant's age at death;
 * `unknown` — the provider refused without saying why, the text lists the usual reasons.
 */
export type Confidence = 'known' | 'likely' | 'unknown';

/** How an inferred (`likely`) diagnosis is introduced wherever a human reads it. */
export const LIKELY = 'Likely cause (inferred from the facts, not stated by the provider):';

/** What a diagnosis of a dead or dying grant says, in words a human can act on. */
export interface DiagnosedCause {
  /** Stable machine id, e.g. `google_testing_expiry`, `revoked`, `password_changed`. */
  id: string;
  /** One sentence: what happened. */
  summary: string;
  /** One sentence: what the human should do. */
  fix: string;
  /** How sure the diagnosis is (absent only in records written before it was kept). */
  confidence?: Confidence | undefined;
  /** Provider error code/description as received (never a secret). */
  providerError?: string | undefined;
  providerDescription?: string | undefined;
}

/** Facts about the human-assisted flow that was opened to heal a connection. */
export interface ReauthFacts {
  flowId?: string | undefined;
  url?: string | undefined;
  userCode?: string | undefined;
  askedAt?: number | undefined;
  askedVia?: string[] | undefined;
  expiresAt?: number | undefined;
}

/**
 * Channel names as a sentence reads them — `telegram channel "human"`, or `channel "human"` when
 * its type is not at hand — so a channel called "human" never yields "asked the human via human".
 */
export function channelNames(names: readonly string[], types?: Readonly<Record<string, { type: string }>>): string {
  if (!names.length) return 'no channel';
  return names.map((n) => `${types?.[n]?.type ? `${types[n].type} ` : ''}channel "${n}"`).join(', ');
}

export class ReauthRequiredError extends TokenwardenError {
  readonly connection: string;
  readonly diagnosis: DiagnosedCause;
  readonly reauth: ReauthFacts;
  /** Non-interactive routes that still work (e.g. `smtp (app password)`). */
  readonly fallbacks: string[];
  constructor(
    connection: string,
    diagnosis: DiagnosedCause,
    opts: { reauth?: ReauthFacts; fallbacks?: string[]; cause?: unknown } = {},
  ) {
    const asked = opts.reauth?.askedVia?.length
      ? ` Re-authorization was requested via ${channelNames(opts.reauth.askedVia)}.`
      : '';
    super(
      'TW_REAUTH_REQUIRED',
      `Connection "${connection}" needs a human to re-authorize: ${diagnosis.confidence === 'likely' ? `${LIKELY} ` : ''}${diagnosis.summary} Fix: ${diagnosis.fix}${asked}`,
      { cause: opts.cause },
    );
    this.connection = connection;
    this.diagnosis = diagnosis;
    this.reauth = opts.reauth ?? {};
    this.fallbacks = opts.fallbacks ?? [];
  }
  override toJSON(): Record<string, unknown> {
    return {
      code: this.code,
      message: this.message,
      connection: this.connection,
      cause: this.diagnosis,
      reauth: this.reauth,
      fallbacks: this.fallbacks,
    };
  }
}

/** The provider or the network is unavailable (timeout, 5xx, 429, reset). Never moves a
 * connection to `reauth_required`. */
export class TransientError extends TokenwardenError {
  readonly status: number | undefined;
  /** Milliseconds the provider asked us to wait (Retry-After), if any. */
  readonly retryAfterMs: number | undefined;
  constructor(
    message: string,
    opts: { status?: number | undefined; retryAfterMs?: number | undefined; cause?: unknown } = {},
  ) {
    super('TW_PROVIDER_UNAVAILABLE', message, { cause: opts.cause });
    this.status = opts.status;
    this.retryAfterMs = opts.retryAfterMs;
  }
}

/** The provider answered definitively with an OAuth error (RFC 6749 §5.2, RFC 8628 §3.5). */
export class ProviderError extends TokenwardenError {
  /** OAuth `error` value, e.g. `invalid_grant`, `authorization_pending`. */
  readonly error: string;
  readonly description: string | undefined;
  readonly status: number | undefined;
  constructor(
    error: string,
    opts: { description?: string | undefined; status?: number | undefined; cause?: unknown } = {},
  ) {
    super('TW_PROVIDER_ERROR', `Provider answered ${error}${opts.description ? `: ${opts.description}` : ''}`, {
      cause: opts.cause,
    });
    this.error = error;
    this.description = opts.description;
    this.status = opts.status;
  }
}

export class ConfigError extends TokenwardenError {
  /** Dotted key path, e.g. `connections.gmail.scopes`. */
  readonly path: string | undefined;
  constructor(message: string, opts: { path?: string; cause?: unknown } = {}) {
    super('TW_CONFIG', opts.path ? `${opts.path}: ${message}` : message, { cause: opts.cause });
    this.path = opts.path;
  }
}

export class UsageError extends TokenwardenError {
  constructor(message: string) {
    super('TW_USAGE', message);
  }
}

export class StoreError extends TokenwardenError {
  constructor(message: string, opts: { cause?: unknown } = {}) {
    super('TW_STORE', message, opts);
  }
}

/** A missing, malformed or wrong encryption key. */
export class KeyError extends TokenwardenError {
  constructor(message: string, opts: { cause?: unknown } = {}) {
    super('TW_KEY', message, opts);
  }
}

/** Bad input from outside: a garbage paste, a forged state, a stranger's message. */
export class InputError extends TokenwardenError {
  constructor(message: string, opts: { cause?: unknown } = {}) {
    super('TW_BAD_INPUT', message, opts);
  }
}

export class NotFoundError extends TokenwardenError {
  constructor(message: string) {
    super('TW_NOT_FOUND', message);
  }
}

/** Optimistic concurrency: the row changed under us. */
export class ConflictError extends TokenwardenError {
  constructor(message: string) {
    super('TW_CONFLICT', message);
  }
}

export class TimeoutError extends TokenwardenError {
  constructor(message: string) {
    super('TW_TIMEOUT', message);
  }
}

export function isTokenwardenError(e: unknown): e is TokenwardenError {
  return e instanceof TokenwardenError;
}
