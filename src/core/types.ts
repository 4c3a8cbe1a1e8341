/**
 * Shared domain types. Pure data, no I/O.
 */
import type { DiagnosedCause } from './errors.js';

/** Where a connection is in its lifecycle (what status, the API and metrics report). */
export type ConnectionState =
  'unauthorized' | 'healthy' | 'refreshing' | 'degraded' | 'expiring' | 'reauth_required' | 'awaiting_human';

/**
 * A connection in one of these states cannot get a token until a human acts: its grant died
 * (`reauth_required`, `awaiting_human` once asked) or was never given (`unauthorized`). The one
 * definition every face and engine uses.
 */
export function needsHuman(state: ConnectionState): boolean {
  return state === 'reauth_required' || state === 'awaiting_human' || state === 'unauthorized';
}

/** A grant that existed and died (as opposed to one never given): {@link needsHuman} less `unauthorized`. */
export function grantDied(state: ConnectionState): boolean {
  return state === 'reauth_required' || state === 'awaiting_human';
}

export const CONNECTION_STATES: readonly ConnectionState[] = [
  'unauthorized',
  'healthy',
  'refreshing',
  'degraded',
  'expiring',
  'reauth_required',
  'awaiting_human',
];

export type ConnectionKind = 'oauth' | 'client_credentials' | 'service_account' | 'static';

/** Tokens as returned by a grant, normalised. Times are epoch milliseconds. */
export interface TokenSet {
  accessToken: string;
  tokenType: string;
  refreshToken?: string | undefined;
  idToken?: string | undefined;
  scope?: string | undefined;
  /** When the access token expires (absent: unknown / does not expire). */
  expiresAt?: number | undefined;
  /** Refresh-token expiry the provider told us (GitHub `refresh_token_expires_in`). */
  refreshExpiresAt?: number | undefined;
}

export type EventType =
  | 'authorized'
  | 'refreshed'
  | 'refresh_failed'
  | 'degraded'
  | 'recovered'
  | 'reauth_required'
  | 'reauth_requested'
  | 'reauth_reminded'
  | 'reauth_completed'
  | 'no_refresh_token'
  | 'reauth_failed'
  | 'flow_expired'
  | 'paste_rejected'
  | 'account_change_refused'
  | 'account_changed'
  | 'expiring'
  | 'probe_ok'
  | 'probe_failed'
  | 'revoked'
  | 'rotation_adopted'
  | 'mail_queued'
  | 'mail_sent'
  | 'mail_failed'
  | 'mail_failover'
  | 'route_opened'
  | 'route_closed'
  | 'channel_error'
  | 'leader_acquired'
  | 'leader_lost';

/** An append-only record of what happened. `data` must never contain a secret value. */
export interface WardenEvent {
  id: number;
  at: number;
  type: EventType;
  connection: string | null;
  message: string;
  data: Record<string, unknown> | null;
}

export type NewEvent = Omit<WardenEvent, 'id' | 'at'> & { at?: number };

export type { DiagnosedCause };

/** Where components report what happened (the warden records it in the store and fans it out). */
export interface EventSink {
  emit(event: NewEvent): Promise<void>;
}

/**
 * What mail routes and other consumers need from the keeper: a valid access token for a
 * connection. Throws ReauthRequiredError (the grant is dead; a human was asked) or
 * TransientError (provider/network down) — never a raw provider error.
 */
export interface TokenSource {
  accessToken(connection: string): Promise<string>;
  /** Current lifecycle state without network I/O (null if unknown connection). */
  stateOf?(connection: string): Promise<ConnectionState | null>;
  /**
   * Refresh now although the token looked valid (a server refused it): a dead grant is found
   * and reported at once (throws ReauthRequiredError) instead of at the token's expiry.
   */
  forceRefresh?(connection: string): Promise<unknown>;
}
