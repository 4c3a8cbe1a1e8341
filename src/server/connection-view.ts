/**
 * What the API and the dashboard show about a connection: state, expiries as ISO times and
 * seconds left, predicted refresh-token death and the planned renewal, the diagnosed cause
 * and the open flow. Pure: built from `Warden.status()` rows and the time. Never a secret.
 */
import type { Config } from '../config/schema.js';
import type { DiagnosedCause } from '../core/errors.js';
import type { ConnectionState } from '../core/types.js';
import type { ConnectionStatus } from '../warden.js';

export interface ConnectionView {
  name: string;
  provider: string;
  kind: string;
  state: ConnectionState;
  account: string | null;
  scopes: string[];
  access_expires_at: string | null;
  access_expires_in: number | null;
  /** Predicted (or announced) refresh-token death. */
  refresh_expires_at: string | null;
  refresh_expires_in: number | null;
  /** When a renewal flow is due to open (before the predicted death, out of quiet hours: the plan `status` shows). */
  renewal_planned_at: string | null;
  /** A lifetime learned from how earlier grants died (it sets the predicted death), with its diagnosis. */
  learned_lifetime: {
    seconds: number;
    cause: DiagnosedCause | null;
    deaths: number;
    learned_at: string | null;
  } | null;
  granted_at: string | null;
  last_refresh_at: string | null;
  cause: DiagnosedCause | null;
  last_error: string | null;
  open_flow: {
    id: string;
    kind: string;
    url: string;
    user_code: string | null;
    expires_at: string;
    asked_via: string[];
    created_at: string;
  } | null;
}

const iso = (t: number | null): string | null => (t === null ? null : new Date(t).toISOString());
const secondsLeft = (t: number | null, now: number): number | null =>
  t === null ? null : Math.round((t - now) / 1000);

export function connectionView(
  s: ConnectionStatus,
  now: number,
  _config?: Pick<Config, 'connections'>,
): ConnectionView {
  return {
    name: s.name,
    provider: s.provider,
    kind: s.kind,
    state: s.state,
    account: s.account,
    scopes: s.scopes,
    access_expires_at: iso(s.accessExpiresAt),
    access_expires_in: secondsLeft(s.accessExpiresAt, now),
    refresh_expires_at: iso(s.refreshExpiresAt),
    refresh_expires_in: secondsLeft(s.refreshExpiresAt, now),
    renewal_planned_at: iso(s.plannedRenewalAt),
    learned_lifetime: s.learned
      ? {
          seconds: Math.round(s.learned.lifetimeMs / 1000),
          cause: s.learned.cause,
          deaths: s.learned.deaths,
          learned_at: iso(s.learned.learnedAt),
        }
      : null,
    granted_at: iso(s.grantedAt),
    last_refresh_at: iso(s.lastRefreshAt),
    cause: s.cause,
    last_error: s.lastError,
    open_flow: s.openFlow
      ? {
          id: s.openFlow.id,
          kind: s.openFlow.kind,
          url: s.openFlow.url,
          user_code: s.openFlow.userCode,
          expires_at: new Date(s.openFlow.expiresAt).toISOString(),
          asked_via: s.openFlow.askedVia,
          created_at: new Date(s.openFlow.createdAt).toISOString(),
        }
      : null,
  };
}
