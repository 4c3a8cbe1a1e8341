/**
 * The one view of a connection every face shows: the library's `status()`, the HTTP API, the
 * dashboard, `tokenwarden status --json` and the MCP tools. `connectionStatuses` reads it from
 * the store (no secret is opened); `connectionView` is its one JSON form (snake_case, ISO
 * times), so every face answers with the same field names and the same renewal plan — the one
 * `renewalPlanFor` computes, quiet hours included (docs/architecture.md, "Actions").
 */
import type { DiagnosedCause } from '../core/errors.js';
import type { ConnectionState } from '../core/types.js';
import { learnedView, type LearnedView } from '../keeper/learned.js';
import type { ConnectionRuntime } from '../keeper/runtime.js';
import { renewalPlanFor } from '../reauth/renewal.js';
import type { FlowRecord, Store } from '../store/types.js';

export interface ConnectionStatus {
  name: string;
  provider: string;
  kind: string;
  state: ConnectionState;
  account: string | null;
  scopes: string[];
  accessExpiresAt: number | null;
  refreshExpiresAt: number | null;
  /** When a renewal flow opens ahead of the predicted death (reauth_lead, out of quiet hours). */
  plannedRenewalAt: number | null;
  /** A lifetime learned from how earlier grants died, when one applies (it moves plannedRenewalAt earlier). */
  learned?: LearnedView | null;
  grantedAt: number | null;
  lastRefreshAt: number | null;
  cause: DiagnosedCause | null;
  lastError: string | null;
  openFlow: {
    id: string;
    kind: string;
    url: string;
    userCode: string | null;
    expiresAt: number;
    askedVia: string[];
    createdAt: number;
  } | null;
}

/** What the status view reads. */
export interface StatusDeps {
  store: Pick<Store, 'listConnectionFacts' | 'listConnections' | 'listOpenFlows'>;
  connections: ReadonlyMap<string, ConnectionRuntime>;
}

/** Every configured connection's status, in config order. */
export async function connectionStatuses(deps: StatusDeps): Promise<ConnectionStatus[]> {
  // No secret is needed here: at 100,000 connections the secret-free listing saves opening
  // 200,000 sealed values (hundreds of MB of short-lived allocation).
  const list = deps.store.listConnectionFacts
    ? await deps.store.listConnectionFacts()
    : await deps.store.listConnections();
  const rows = new Map(list.map((r) => [r.name, r]));
  const flows = new Map<string, FlowRecord>();
  for (const f of await deps.store.listOpenFlows()) if (!flows.has(f.connection)) flows.set(f.connection, f);
  return [...deps.connections.values()].map((rt) => {
    const r = rows.get(rt.name);
    const f = flows.get(rt.name);
    const state: ConnectionState =
      rt.config.kind === 'static' ? 'healthy' : (r?.state ?? (rt.config.kind === 'oauth' ? 'unauthorized' : 'healthy'));
    return {
      name: rt.name,
      provider: rt.profile.id,
      kind: rt.config.kind,
      state,
      account: r?.account ?? rt.config.account ?? null,
      scopes: r?.scope ? r.scope.split(' ') : rt.config.scopes,
      accessExpiresAt: r?.accessExpiresAt ?? null,
      refreshExpiresAt: r?.refreshExpiresAt ?? null,
      plannedRenewalAt: renewalPlanFor(rt.config, r ?? null),
      learned: learnedView(rt.config, r?.lifetime ?? null),
      grantedAt: r?.grantedAt ?? null,
      lastRefreshAt: r?.lastRefreshAt ?? null,
      cause: r?.cause ?? null,
      lastError: r?.lastError ?? null,
      openFlow: f ? flowSummary(f) : null,
    };
  });
}

function flowSummary(f: FlowRecord): NonNullable<ConnectionStatus['openFlow']> {
  return {
    id: f.id,
    kind: f.kind,
    url: f.url,
    userCode: f.userCode,
    expiresAt: f.expiresAt,
    askedVia: f.askedVia,
    createdAt: f.createdAt,
  };
}

/** A connection as JSON: state, expiries as ISO times and seconds left, the renewal plan, cause, open flow. Never a secret. */
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
  /** When a renewal flow is due to open (before the predicted death, out of quiet hours). */
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

export const iso = (t: number | null | undefined): string | null =>
  t === null || t === undefined ? null : new Date(t).toISOString();
const secondsLeft = (t: number | null, now: number): number | null =>
  t === null ? null : Math.round((t - now) / 1000);

/** The one JSON form of a connection's status. */
export function connectionView(s: ConnectionStatus, now: number): ConnectionView {
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
