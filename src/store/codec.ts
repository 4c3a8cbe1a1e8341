/**
 * The store codec, shared by the SQLite and PostgreSQL stores: rows (snake_case, sealed
 * secrets, JSON text) to records (camelCase, plaintext in memory) and back, and the one place
 * the sealing rules live — which columns of which table are sealed ({@link SEALED}) and the
 * associated data binding each sealed value to its place (`<table>:<row key>:<column>`).
 * Both engines store the same sealed text, so `migrate` copies it unchanged and
 * key rotation (sealed-pages.ts) works the same on either.
 *
 * Light imports (types and errors): the CLI's fast token path loads this without the store.
 */
import type { DiagnosedCause } from '../core/errors.js';
import type { ConnectionState, EventType, WardenEvent } from '../core/types.js';
import type {
  ConnectionFacts,
  ConnectionPatch,
  ConnectionRecord,
  FlowKind,
  FlowRecord,
  FlowStatus,
  LearnedLifetime,
  OutboxRecord,
  OutboxStatus,
  Sealer,
} from './types.js';

export type SqlValue = string | number | null;

function parseJson<T>(text: string | null): T | null {
  return text === null ? null : (JSON.parse(text) as T);
}

// ---------------------------------------------------------------- sealing rules

/**
 * Every sealed column, per table: the column naming the row (the `<row key>` of the associated
 * data) and the sealed columns. `rows`, when present, limits sealing to those row keys (in
 * `meta` only the key-check record is sealed). Adding a sealed column here is all key rotation
 * needs to re-seal it.
 */
export const SEALED = {
  connections: { key: 'name', columns: ['access_token', 'refresh_token', 'id_token'] },
  flows: { key: 'id', columns: ['code_verifier', 'device_code', 'nonce'] },
  outbox: { key: 'id', columns: ['payload'] },
  meta: { key: 'key', columns: ['value'], rows: ['key_check'] },
} as const satisfies Record<string, SealedTableRule>;

export interface SealedTableRule {
  readonly key: string;
  readonly columns: readonly string[];
  readonly rows?: readonly string[];
}

export type SealedTable = keyof typeof SEALED;
export type SealedColumn<T extends SealedTable> = (typeof SEALED)[T]['columns'][number];

/** The tables with sealed columns, in the order key rotation visits them (key check last). */
export const SEALED_TABLES = Object.keys(SEALED) as SealedTable[];

/** Associated data binding a sealed value to its table, row and column. */
export function aad<T extends SealedTable>(table: T, rowKey: string, column: SealedColumn<T>): string {
  return `${table}:${rowKey}:${column}`;
}

function openOrNull<T extends SealedTable>(
  sealer: Sealer,
  value: string | null,
  table: T,
  rowKey: string,
  column: SealedColumn<T>,
): string | null {
  return value === null ? null : sealer.open(value, aad(table, rowKey, column));
}

function sealOrNull<T extends SealedTable>(
  sealer: Sealer,
  value: string | null,
  table: T,
  rowKey: string,
  column: SealedColumn<T>,
): string | null {
  return value === null ? null : sealer.seal(value, aad(table, rowKey, column));
}

// ---------------------------------------------------------------- key check

/** The `meta` row whose sealed value proves the key: a wrong key fails at open. */
export const KEY_CHECK_ROW = 'key_check';
const KEY_CHECK_PLAINTEXT = 'tokenwarden key check v1';

/** The sealed key-check value for a new store. */
export function sealKeyCheck(sealer: Sealer): string {
  return sealer.seal(KEY_CHECK_PLAINTEXT, aad('meta', KEY_CHECK_ROW, 'value'));
}

/** Whether `sealed` (the stored key-check value) opens with this sealer. */
export function keyCheckOpens(sealer: Sealer, sealed: string): boolean {
  try {
    return sealer.open(sealed, aad('meta', KEY_CHECK_ROW, 'value')) === KEY_CHECK_PLAINTEXT;
  } catch {
    return false;
  }
}

/**
 * A sealer whose key can be swapped: a store hands this to its table code, and after a
 * committed re-seal switches it to the new key, so the same handle keeps working.
 */
export class SwitchableSealer implements Sealer {
  constructor(private current: Sealer) {}

  seal(plaintext: string, ad: string): string {
    return this.current.seal(plaintext, ad);
  }

  open(sealed: string, ad: string): string {
    return this.current.open(sealed, ad);
  }

  /** The sealer behind this one now. */
  get inner(): Sealer {
    return this.current;
  }

  use(next: Sealer): void {
    this.current = next;
  }
}

// ---------------------------------------------------------------- connections

export interface ConnectionRow {
  name: string;
  state: string;
  version: number;
  access_token: string | null;
  refresh_token: string | null;
  id_token: string | null;
  token_type: string | null;
  scope: string | null;
  account: string | null;
  access_expires_at: number | null;
  granted_at: number | null;
  refresh_expires_at: number | null;
  last_refresh_at: number | null;
  last_used_at: number | null;
  cause: string | null;
  /** JSON LearnedLifetime (added by migration 2). */
  lifetime: string | null;
  failure_count: number;
  next_attempt_at: number | null;
  last_error: string | null;
  lease_owner: string | null;
  lease_until: number | null;
  created_at: number;
  updated_at: number;
}

/** The columns of a {@link ConnectionFacts} listing: secrets replaced by whether they are set. */
export const CONNECTION_FACT_COLUMNS =
  'name, state, version, access_token IS NOT NULL AS has_access_token, refresh_token IS NOT NULL AS has_refresh_token, ' +
  'token_type, scope, account, access_expires_at, granted_at, refresh_expires_at, last_refresh_at, last_used_at, cause, lifetime, ' +
  'failure_count, next_attempt_at, last_error, lease_owner, lease_until, created_at, updated_at';

export type ConnectionFactsRow = Omit<ConnectionRow, 'access_token' | 'refresh_token' | 'id_token'> & {
  /** SQLite answers 0/1, PostgreSQL a boolean. */
  has_access_token: number | boolean;
  has_refresh_token: number | boolean;
};

/** The connection fields stored as they are (no secret among them), shared by both row readers. */
function plainConnectionFields(row: Omit<ConnectionRow, 'access_token' | 'refresh_token' | 'id_token'>) {
  return {
    tokenType: row.token_type,
    scope: row.scope,
    account: row.account,
    accessExpiresAt: row.access_expires_at,
    grantedAt: row.granted_at,
    refreshExpiresAt: row.refresh_expires_at,
    lastRefreshAt: row.last_refresh_at,
    lastUsedAt: row.last_used_at,
    cause: parseJson<DiagnosedCause>(row.cause),
    lifetime: parseJson<LearnedLifetime>(row.lifetime),
    failureCount: row.failure_count,
    nextAttemptAt: row.next_attempt_at,
    lastError: row.last_error,
    leaseOwner: row.lease_owner,
    leaseUntil: row.lease_until,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function connectionFactsFromRow(row: ConnectionFactsRow): ConnectionFacts {
  return {
    name: row.name,
    state: row.state as ConnectionState,
    version: row.version,
    hasAccessToken: Boolean(row.has_access_token),
    hasRefreshToken: Boolean(row.has_refresh_token),
    ...plainConnectionFields(row),
  };
}

/** How a column is stored: a `sealed` one must be listed in {@link SEALED}. */
type ColumnSpec = readonly [SealedColumn<'connections'>, 'sealed'] | readonly [string, 'plain' | 'json'];

/** Every patchable connection field, its column and how it is stored. */
const CONNECTION_COLUMNS: { [K in keyof Required<ConnectionPatch>]: ColumnSpec } = {
  state: ['state', 'plain'],
  accessToken: ['access_token', 'sealed'],
  refreshToken: ['refresh_token', 'sealed'],
  idToken: ['id_token', 'sealed'],
  tokenType: ['token_type', 'plain'],
  scope: ['scope', 'plain'],
  account: ['account', 'plain'],
  accessExpiresAt: ['access_expires_at', 'plain'],
  grantedAt: ['granted_at', 'plain'],
  refreshExpiresAt: ['refresh_expires_at', 'plain'],
  lastRefreshAt: ['last_refresh_at', 'plain'],
  lastUsedAt: ['last_used_at', 'plain'],
  cause: ['cause', 'json'],
  lifetime: ['lifetime', 'json'],
  failureCount: ['failure_count', 'plain'],
  nextAttemptAt: ['next_attempt_at', 'plain'],
  lastError: ['last_error', 'plain'],
};

/**
 * `SET` assignments for a patch: `undefined` fields are left out (unchanged), `null` clears,
 * secrets are sealed for this row.
 */
export function connectionPatchColumns(
  sealer: Sealer,
  name: string,
  patch: ConnectionPatch,
): { columns: string[]; values: SqlValue[] } {
  const columns: string[] = [];
  const values: SqlValue[] = [];
  for (const [field, [column, kind]] of Object.entries(CONNECTION_COLUMNS)) {
    const value = (patch as Record<string, unknown>)[field];
    if (value === undefined) continue;
    columns.push(column);
    if (value === null) values.push(null);
    else if (kind === 'sealed')
      values.push(sealer.seal(String(value), aad('connections', name, column as SealedColumn<'connections'>)));
    else if (kind === 'json') values.push(JSON.stringify(value));
    else values.push(value as string | number);
  }
  return { columns, values };
}

export function connectionFromRow(sealer: Sealer, row: ConnectionRow): ConnectionRecord {
  const open = (column: SealedColumn<'connections'>): string | null =>
    openOrNull(sealer, row[column], 'connections', row.name, column);
  return {
    name: row.name,
    state: row.state as ConnectionState,
    version: row.version,
    accessToken: open('access_token'),
    refreshToken: open('refresh_token'),
    idToken: open('id_token'),
    ...plainConnectionFields(row),
  };
}

// ---------------------------------------------------------------- flows

export interface FlowRow {
  id: string;
  connection: string;
  kind: string;
  status: string;
  state: string | null;
  code_verifier: string | null;
  device_code: string | null;
  nonce: string | null;
  user_code: string | null;
  url: string;
  redirect_uri: string | null;
  interval: number | null;
  reason: string | null;
  asked_via: string;
  created_at: number;
  expires_at: number;
  reminded_at: number | null;
  completed_at: number | null;
  outcome: string | null;
}

export function flowToRow(sealer: Sealer, f: FlowRecord): FlowRow {
  const seal = (v: string | null, column: SealedColumn<'flows'>): string | null =>
    sealOrNull(sealer, v, 'flows', f.id, column);
  return {
    id: f.id,
    connection: f.connection,
    kind: f.kind,
    status: f.status,
    state: f.state,
    code_verifier: seal(f.codeVerifier, 'code_verifier'),
    device_code: seal(f.deviceCode, 'device_code'),
    nonce: seal(f.nonce, 'nonce'),
    user_code: f.userCode,
    url: f.url,
    redirect_uri: f.redirectUri,
    interval: f.interval,
    reason: f.reason,
    asked_via: JSON.stringify(f.askedVia),
    created_at: f.createdAt,
    expires_at: f.expiresAt,
    reminded_at: f.remindedAt,
    completed_at: f.completedAt,
    outcome: f.outcome,
  };
}

export function flowFromRow(sealer: Sealer, row: FlowRow): FlowRecord {
  const open = (column: SealedColumn<'flows'>): string | null =>
    openOrNull(sealer, row[column], 'flows', row.id, column);
  return {
    id: row.id,
    connection: row.connection,
    kind: row.kind as FlowKind,
    status: row.status as FlowStatus,
    state: row.state,
    codeVerifier: open('code_verifier'),
    deviceCode: open('device_code'),
    nonce: open('nonce'),
    userCode: row.user_code,
    url: row.url,
    redirectUri: row.redirect_uri,
    interval: row.interval,
    reason: row.reason,
    askedVia: parseJson<string[]>(row.asked_via) ?? [],
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    remindedAt: row.reminded_at,
    completedAt: row.completed_at,
    outcome: row.outcome,
  };
}

// ---------------------------------------------------------------- events

export interface EventRow {
  id: number;
  at: number;
  type: string;
  connection: string | null;
  message: string;
  data: string | null;
}

export function eventFromRow(row: EventRow): WardenEvent {
  return {
    id: row.id,
    at: row.at,
    type: row.type as EventType,
    connection: row.connection,
    message: row.message,
    data: parseJson<Record<string, unknown>>(row.data),
  };
}

// ---------------------------------------------------------------- outbox

export interface OutboxRow {
  id: string;
  mailbox: string;
  idempotency_key: string;
  message_id: string;
  payload: string;
  status: string;
  attempts: number;
  next_attempt_at: number;
  lease_owner: string | null;
  lease_until: number | null;
  route: string | null;
  last_error: string | null;
  created_at: number;
  sent_at: number | null;
}

export function outboxFromRow(sealer: Sealer, row: OutboxRow): OutboxRecord {
  return {
    id: row.id,
    mailbox: row.mailbox,
    idempotencyKey: row.idempotency_key,
    messageId: row.message_id,
    payload: sealer.open(row.payload, aad('outbox', row.id, 'payload')),
    status: row.status as OutboxStatus,
    attempts: row.attempts,
    nextAttemptAt: row.next_attempt_at,
    leaseOwner: row.lease_owner,
    leaseUntil: row.lease_until,
    route: row.route,
    lastError: row.last_error,
    createdAt: row.created_at,
    sentAt: row.sent_at,
  };
}
