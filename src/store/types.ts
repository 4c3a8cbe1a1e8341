/**
 * The one storage interface, shaped for both SQLite and PostgreSQL.
 *
 * - All methods are async (PostgreSQL is); SQLite resolves synchronously underneath.
 * - Records hold plaintext secrets in memory only: an implementation seals every secret field
 *   (marked "sealed" below) with AES-256-GCM via {@link Sealer} before it touches disk, with
 *   associated data `<table>:<row key>:<column>` so a sealed value moved to another row or
 *   column fails to open.
 * - Leases are taken by conditional UPDATE (no advisory locks), so PostgreSQL-compatible
 *   distributed SQL engines work too.
 * - Times are epoch milliseconds passed in by the caller (time is a dependency), never read
 *   from the database clock.
 */
import type { DiagnosedCause } from '../core/errors.js';
import type { ConnectionState, NewEvent, WardenEvent } from '../core/types.js';

export interface ConnectionRecord {
  /** Config name of the connection; primary key. */
  name: string;
  state: ConnectionState;
  /** Incremented by every update; used for optimistic concurrency. */
  version: number;
  /** sealed */
  accessToken: string | null;
  /** sealed */
  refreshToken: string | null;
  /** sealed */
  idToken: string | null;
  tokenType: string | null;
  scope: string | null;
  /** Account identity if known (email, `sub`, login). Not secret. */
  account: string | null;
  accessExpiresAt: number | null;
  /** When the current grant was consented (the human completed a flow). */
  grantedAt: number | null;
  /** Predicted or announced refresh-token death. */
  refreshExpiresAt: number | null;
  lastRefreshAt: number | null;
  /** Last time the refresh token was used successfully (Microsoft: 90 days unused). */
  lastUsedAt: number | null;
  /** Diagnosed cause of the current reauth_required / degraded state. */
  cause: DiagnosedCause | null;
  /** What the deaths of this connection's grants taught (secret-free); null until one died. */
  lifetime: LearnedLifetime | null;
  /** Consecutive transient failures (for backoff). */
  failureCount: number;
  /** Earliest time the keeper may try the provider again (backoff / Retry-After). */
  nextAttemptAt: number | null;
  /** Last error message (never a secret). */
  lastError: string | null;
  leaseOwner: string | null;
  leaseUntil: number | null;
  createdAt: number;
  updatedAt: number;
}

/**
 * What tokenwarden learned from how this connection's grants died (`invalid_grant` after a
 * refresh): the ages at death and, once they point to a rule (Google's 7-day Testing expiry, an
 * organisation's session limit), the lifetime it now plans renewals by. Never a secret.
 */
export interface LearnedLifetime {
  /** Ages of the grants at death (ms from consent to the refused refresh), oldest first, at most 5. */
  deathAges: number[];
  /** The learned lifetime from consent (ms), or null while no consistent rule is seen. */
  lifetimeMs: number | null;
  /** The diagnosis behind `lifetimeMs` (cause, fix in words, confidence). */
  cause: DiagnosedCause | null;
  /** When `lifetimeMs` was learned. */
  learnedAt: number | null;
}

/**
 * A connection row without its secrets (and the flags saying whether they are set): what a
 * scheduler needs, listed for 100,000 rows without opening 200,000 sealed values.
 */
export type ConnectionFacts = Omit<ConnectionRecord, 'accessToken' | 'refreshToken' | 'idToken'> & {
  hasAccessToken: boolean;
  hasRefreshToken: boolean;
};

/** Fields that may be changed by {@link Store.updateConnection}. */
export type ConnectionPatch = {
  [K in keyof Omit<ConnectionRecord, 'name' | 'version' | 'createdAt' | 'updatedAt' | 'leaseOwner' | 'leaseUntil'>]?:
    ConnectionRecord[K] | undefined;
};

export type FlowKind = 'auth_code' | 'device_code';
export type FlowStatus = 'open' | 'completed' | 'expired' | 'failed' | 'cancelled';

export interface FlowRecord {
  /** Random id (also used in links: not a secret). */
  id: string;
  connection: string;
  kind: FlowKind;
  status: FlowStatus;
  /** OAuth `state` (auth_code); unique among flows. */
  state: string | null;
  /** sealed: PKCE code_verifier. */
  codeVerifier: string | null;
  /** sealed: RFC 8628 device_code. */
  deviceCode: string | null;
  /** sealed: OIDC nonce, if used. */
  nonce: string | null;
  userCode: string | null;
  /** The link the human opens (authorization URL or verification_uri_complete). */
  url: string;
  redirectUri: string | null;
  /** Device flow polling interval in seconds. */
  interval: number | null;
  /** Why the flow was opened: the diagnosed cause id, `manual`, `predicted`. */
  reason: string | null;
  /** Channels the human was asked through, in order. */
  askedVia: string[];
  createdAt: number;
  expiresAt: number;
  remindedAt: number | null;
  completedAt: number | null;
  /** Short non-secret note on how it ended (`completed via telegram`, `code expired`). */
  outcome: string | null;
}

export type NewFlow = Omit<FlowRecord, 'status' | 'remindedAt' | 'completedAt' | 'outcome'>;
export type FlowPatch = Partial<Pick<FlowRecord, 'askedVia' | 'remindedAt' | 'outcome' | 'url' | 'expiresAt'>>;

export type OutboxStatus = 'pending' | 'sending' | 'sent' | 'failed';

export interface OutboxRecord {
  id: string;
  mailbox: string;
  /** Unique per mailbox. */
  idempotencyKey: string;
  /** Stable RFC 5322 Message-ID (not secret). */
  messageId: string;
  /** sealed: the message (JSON of the composed message or raw MIME). */
  payload: string;
  status: OutboxStatus;
  attempts: number;
  nextAttemptAt: number;
  leaseOwner: string | null;
  leaseUntil: number | null;
  /** Route that delivered it (or last tried). */
  route: string | null;
  lastError: string | null;
  createdAt: number;
  sentAt: number | null;
}

export type NewOutboxMessage = Pick<
  OutboxRecord,
  'id' | 'mailbox' | 'idempotencyKey' | 'messageId' | 'payload' | 'createdAt'
>;
export type OutboxPatch = Partial<
  Pick<OutboxRecord, 'status' | 'attempts' | 'nextAttemptAt' | 'route' | 'lastError' | 'sentAt'>
>;

export interface OutboxStats {
  pending: number;
  sending: number;
  sent: number;
  failed: number;
  /** createdAt of the oldest pending/sending message. */
  oldestPendingAt: number | null;
}

export interface Store {
  /** `sqlite` or `postgres`. */
  readonly kind: string;

  // ---- connections ----
  getConnection(name: string): Promise<ConnectionRecord | null>;
  /**
   * Every connection with its secrets opened, all at once: for small stores and tests only. At
   * 100,000 rows this is hundreds of MB; the daemon and the CLI use {@link listConnectionFacts}
   * (no secret) or {@link pageConnections} / `connectionPages` (paging.ts).
   */
  listConnections(): Promise<ConnectionRecord[]>;
  /**
   * Up to `limit` connections whose name sorts after `after` (from the first when absent), in
   * name order, secrets opened: one page of a walk over every row at flat memory.
   */
  pageConnections(opts: { after?: string | null; limit: number }): Promise<ConnectionRecord[]>;
  /**
   * name → version of every connection row, without opening any secret: a cheap way for a
   * long-running process to find rows changed elsewhere (re-read only those).
   */
  connectionVersions?(): Promise<Map<string, number>>;
  /**
   * The same listing streamed: `visit(name, version)` per row, nothing collected (a long-running
   * scheduler compares 100,000 rows every 30 s; a Map per pass was most of its garbage).
   */
  forEachConnectionVersion?(visit: (name: string, version: number) => void): Promise<void>;
  /** Every connection without its secrets (nothing is opened): see {@link ConnectionFacts}. */
  listConnectionFacts?(): Promise<ConnectionFacts[]>;
  /**
   * The same listing streamed in name order: `visit` per row, nothing collected (the scheduler's
   * first read of 100,000 rows held them all at once and set the daemon's peak memory). `visit`
   * must not call the store: SQLite runs it inside the open statement.
   */
  forEachConnectionFacts?(visit: (facts: ConnectionFacts) => void): Promise<void>;
  /** Insert an `unauthorized` row if absent; return the row. */
  ensureConnection(name: string, now: number): Promise<ConnectionRecord>;
  /**
   * Apply `patch`, bump `version`, set `updatedAt = now`. With `expectVersion`, fails with
   * ConflictError if the row's version differs. With `leaseOwner`, fails with ConflictError
   * unless that owner holds an unexpired lease (a lease holder whose lease ended must not
   * write). Setting a secret field to `undefined` leaves it unchanged; `null` clears it.
   */
  updateConnection(
    name: string,
    patch: ConnectionPatch,
    opts: { now: number; expectVersion?: number; leaseOwner?: string },
  ): Promise<ConnectionRecord>;
  /**
   * Take the refresh lease if it is free, expired, or already ours (conditional UPDATE).
   * Returns the row as re-read under the lease, or null if someone else holds it.
   */
  acquireRefreshLease(name: string, owner: string, ttlMs: number, now: number): Promise<ConnectionRecord | null>;
  releaseRefreshLease(name: string, owner: string): Promise<void>;
  deleteConnection(name: string): Promise<void>;

  // ---- flows ----
  createFlow(flow: NewFlow): Promise<FlowRecord>;
  getFlow(id: string): Promise<FlowRecord | null>;
  findFlowByState(state: string): Promise<FlowRecord | null>;
  /** Open flows (optionally of one connection), newest first. */
  listOpenFlows(connection?: string): Promise<FlowRecord[]>;
  listFlows(opts?: { connection?: string; limit?: number }): Promise<FlowRecord[]>;
  updateFlow(id: string, patch: FlowPatch): Promise<FlowRecord>;
  /**
   * Atomically move an `open` flow to `status` (completed, expired, failed, cancelled).
   * Returns false if the flow was not open (already used): this is what makes a `state`
   * single-use across processes and hosts.
   */
  finishFlow(id: string, status: Exclude<FlowStatus, 'open'>, now: number, outcome: string | null): Promise<boolean>;

  // ---- events ----
  appendEvent(event: NewEvent, now: number): Promise<WardenEvent>;
  /** Events with id > `since` (ascending), optionally for one connection; `limit` default 100. */
  listEvents(opts?: {
    since?: number;
    connection?: string;
    limit?: number;
    newestFirst?: boolean;
  }): Promise<WardenEvent[]>;
  /**
   * Retention: delete events recorded before `before` (epoch ms, by `at`) and all but the
   * newest `keep` (by id), `chunk` rows per statement (default 5,000) so other writers
   * interleave. Ids are never reused afterwards. Returns how many were deleted.
   */
  pruneEvents(opts: { before: number; keep: number; chunk?: number }): Promise<number>;

  // ---- outbox ----
  /**
   * Insert; if (mailbox, idempotencyKey) exists, return the existing row instead (unchanged).
   * With `claim`, a new row is born claimed — `sending` under `claim.owner` until now+leaseMs —
   * so the sender delivers it at once without a separate claim.
   */
  enqueueMessage(
    msg: NewOutboxMessage,
    now: number,
    opts?: { claim?: { owner: string; leaseMs: number } },
  ): Promise<{ record: OutboxRecord; created: boolean }>;
  getMessage(id: string): Promise<OutboxRecord | null>;
  /**
   * Claim up to `limit` due messages (pending with nextAttemptAt <= now, or sending with an
   * expired lease — a crashed sender), marking them `sending` under `owner` until now+leaseMs.
   * With `id`, only that message (if due).
   */
  claimMessages(opts: {
    owner: string;
    now: number;
    leaseMs: number;
    limit: number;
    mailbox?: string;
    id?: string;
  }): Promise<OutboxRecord[]>;
  /** Update a message; if `owner` is given, only while that owner holds its lease. */
  updateMessage(id: string, patch: OutboxPatch, opts: { owner?: string }): Promise<OutboxRecord | null>;
  listMessages(opts?: { mailbox?: string; status?: OutboxStatus; limit?: number }): Promise<OutboxRecord[]>;
  outboxStats(mailbox?: string): Promise<OutboxStats>;

  // ---- leader leases (work that must run once: one Telegram poller per bot, sweeps) ----
  /**
   * Take or renew lease `key` for `owner` if free, expired or ours. True if held. Re-entrant for
   * the same owner (a leader renews its lease): a claim that must be exclusive per attempt — the
   * exchange of one authorization code — uses an owner unique to that attempt.
   */
  acquireLease(key: string, owner: string, ttlMs: number, now: number): Promise<boolean>;
  releaseLease(key: string, owner: string): Promise<void>;
  getLease(key: string): Promise<{ owner: string; until: number } | null>;

  // ---- change notification (PostgreSQL LISTEN/NOTIFY; SQLite: in-process only) ----
  /** Called when a connection row changes (possibly in another process/host, best effort). */
  onConnectionChanged?(listener: (name: string) => void): () => void;
  /**
   * Deliver now what the change feed would report at its next poll: rows other processes
   * committed since. Cheap when nothing changed (SQLite: one `PRAGMA data_version`; PostgreSQL:
   * one indexed query). A no-op while nobody listens.
   */
  catchUpChanges?(): Promise<void>;

  /**
   * Fail with KeyError when this process's key no longer opens the store's key-check record
   * (the store was re-sealed under another key while this process ran). One read, one open.
   */
  checkKey?(): Promise<void>;

  /**
   * Key rotation: re-seal every sealed value (the columns the codec lists: connection tokens,
   * flow verifiers, device codes and nonces, queued mail, the key-check record) from this
   * handle's key to `to`, with the same associated data, in one transaction — all or nothing.
   * Rows are read a page at a time, so memory does not grow with the store. Throws KeyError
   * (nothing changed) if a value does not open with the current key. Once committed this handle
   * seals and opens with `to`; other processes still holding the old key no longer open the
   * store, so stop them first. Returns how many values were re-sealed.
   */
  reseal(to: Sealer, opts?: { pageRows?: number }): Promise<number>;

  close(): Promise<void>;
}

/** Seals and opens secret values with associated data (store/seal.ts implements it). */
export interface Sealer {
  seal(plaintext: string, aad: string): string;
  open(sealed: string, aad: string): string;
}
