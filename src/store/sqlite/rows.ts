/**
 * Mapping between SQLite rows (snake_case, sealed secrets, JSON text) and store records
 * (camelCase, plaintext in memory). Every secret column is sealed with associated data
 * `<table>:<row key>:<column>`.
 */
import type { DiagnosedCause } from '../../core/errors.js';
import type { ConnectionState, EventType, WardenEvent } from '../../core/types.js';
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
} from '../types.js';

export type SqlValue = string | number | null;

/** Associated data binding a sealed value to its table, row and column. */
export function aad(table: string, rowKey: string, column: string): string {
  return `${table}:${rowKey}:${column}`;
}

function openOrNull(sealer: Sealer, value: string | null, ad: string): string | null {
  return value === null ? null : sealer.open(value, ad);
}

export function sealOrNull(sealer: Sealer, value: string | null, ad: string): string | null {
  return value === null ? null : sealer.seal(value, ad);
}

function parseJson<T>(text: string | null): T | null {
  return text === null ? null : (JSON.parse(text) as T);
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

export function connectionFactsFromRow(row: ConnectionFactsRow): ConnectionFacts {
  return {
    name: row.name,
    state: row.state as ConnectionState,
    version: row.version,
    hasAccessToken: Boolean(row.has_access_token),
    hasRefreshToken: Boolean(row.has_refresh_token),
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

type ColumnKind = 'plain' | 'sealed' | 'json';

/** Every patchable connection field, its column and how it is stored. */
const CONNECTION_COLUMNS: { [K in keyof Required<ConnectionPatch>]: readonly [string, ColumnKind] } = {
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
    else if (kind === 'sealed') values.push(sealer.seal(String(value), aad('connections', name, column)));
    else if (kind === 'json') values.push(JSON.stringify(value));
    else values.push(value as string | number);
  }
  return { columns, values };
}

export function connectionFromRow(sealer: Sealer, row: ConnectionRow): ConnectionRecord {
  const open = (column: 'access_token' | 'refresh_token' | 'id_token'): string | null =>
    openOrNull(sealer, row[column], aad('connections', row.name, column));
  return {
    name: row.name,
    state: row.state as ConnectionState,
    version: row.version,
    accessToken: open('access_token'),
    refreshToken: open('refresh_token'),
    idToken: open('id_token'),
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
  const seal = (v: string | null, column: string): string | null => sealOrNull(sealer, v, aad('flows', f.id, column));
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
  const open = (column: 'code_verifier' | 'device_code' | 'nonce'): string | null =>
    openOrNull(sealer, row[column], aad('flows', row.id, column));
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
