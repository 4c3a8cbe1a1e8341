/**
 * Pure scheduling decisions for one connection: what is due now, and
 * when each kind of work — a "lane" — next needs a look. The scheduler keeps one due time per
 * connection and lane in a {@link DueQueue}, so a wake-up touches only what is due.
 */
import { shouldRefresh } from '../core/refresh-policy.js';
import { CONNECTION_STATES, type ConnectionState } from '../core/types.js';
import type { ConnectionFacts, ConnectionRecord, FlowRecord, LearnedLifetime } from '../store/types.js';
import type { HumanNeed } from './types.js';

export type WorkKind = 'refresh' | 'probe' | 'ask' | 'renew' | 'follow_up' | 'mark_expiring';

/** Independent kinds of work per connection, each with its own due time. */
export type Lane = 'refresh' | 'probe' | 'human' | 'flow';
export const LANES: readonly Lane[] = ['refresh', 'probe', 'human', 'flow'];

/** The lane a kind of work belongs to (refresh ahead; probes; asking or renewing; reminders and link expiry). */
export const LANE_OF: Readonly<Record<WorkKind, Lane>> = {
  refresh: 'refresh',
  probe: 'probe',
  ask: 'human',
  renew: 'human',
  mark_expiring: 'human',
  follow_up: 'flow',
};

/** What scheduling needs of a connection row: no secrets, so 100,000 of them stay small. */
export interface PlanRow {
  version: number;
  state: ConnectionState;
  hasAccessToken: boolean;
  hasRefreshToken: boolean;
  accessExpiresAt: number | null;
  lastRefreshAt: number | null;
  nextAttemptAt: number | null;
  refreshExpiresAt: number | null;
  grantedAt: number | null;
  /** What earlier deaths taught (null for almost every row: shared, never copied). */
  lifetime?: LearnedLifetime | null;
  causeId: string | null;
}

/** One copy of each state name: every row read from the store brings a fresh string (100,000 kept at scale). */
const STATES = new Map<string, ConnectionState>(CONNECTION_STATES.map((s) => [s, s]));

/** The scheduling facts of a full row or of a secret-free listing. */
export function planRow(r: ConnectionRecord | ConnectionFacts): PlanRow {
  const facts = 'hasAccessToken' in r;
  return {
    version: r.version,
    state: STATES.get(r.state) ?? r.state,
    hasAccessToken: facts ? r.hasAccessToken : r.accessToken !== null && r.accessToken !== '',
    hasRefreshToken: facts ? r.hasRefreshToken : r.refreshToken !== null && r.refreshToken !== '',
    accessExpiresAt: r.accessExpiresAt,
    lastRefreshAt: r.lastRefreshAt,
    nextAttemptAt: r.nextAttemptAt,
    refreshExpiresAt: r.refreshExpiresAt,
    grantedAt: r.grantedAt,
    lifetime: r.lifetime,
    causeId: r.cause?.id ?? null,
  };
}

export interface PlanInput {
  now: number;
  kind: string;
  row: PlanRow | null;
  flow: Pick<FlowRecord, 'id'> | null;
  need: HumanNeed;
  /** From the orchestrator: when the open flow is next due, when a renewal opens. */
  followUpAt: number | null;
  renewalAt: number | null;
  /** When the next probe is due (null: probing off). */
  probeAt: number | null;
}

export interface Plan {
  /** Work due now. */
  due: WorkKind[];
  /** When each lane next needs a look (future times only; null: nothing planned). */
  lanes: Record<Lane, number | null>;
  /** The earliest of `lanes`. */
  nextAt: number | null;
}

/** Pure: what is due for one connection now, and when each lane next needs a look. */
export function planConnection(p: PlanInput): Plan {
  const due: WorkKind[] = [];
  const lanes: Record<Lane, number | null> = { refresh: null, probe: null, human: null, flow: null };
  const later = (lane: Lane, t: number | null): void => {
    if (t !== null && t > p.now) lanes[lane] = lanes[lane] === null ? t : Math.min(lanes[lane], t);
  };
  const at = (t: number | null, kind: WorkKind): void => {
    if (t === null) return;
    if (t <= p.now) due.push(kind);
    else later(LANE_OF[kind], t);
  };
  const row = p.row;
  if (p.kind !== 'static') {
    // The human side.
    if (p.flow) {
      at(p.followUpAt, 'follow_up');
      if (p.need === 'predicted' && row?.state === 'healthy') due.push('mark_expiring');
    } else if (p.need === 'dead' && row && row.state !== 'unauthorized') due.push('ask');
    else if (p.need === 'predicted') due.push('renew');
    else later('human', p.renewalAt);
    // The machine side: only while the connection serves tokens.
    if (row && row.state !== 'reauth_required' && row.state !== 'awaiting_human') {
      let refreshAt: number | null = null;
      if (!row.hasAccessToken) refreshAt = p.kind === 'oauth' && !row.hasRefreshToken ? null : p.now;
      else if (row.accessExpiresAt !== null)
        refreshAt = shouldRefresh({
          now: p.now,
          hasAccessToken: true,
          accessExpiresAt: row.accessExpiresAt,
          obtainedAt: row.lastRefreshAt,
        }).refreshAt;
      if (refreshAt !== null && row.state === 'degraded' && row.nextAttemptAt !== null)
        refreshAt = Math.max(refreshAt, row.nextAttemptAt);
      at(refreshAt, 'refresh');
      if (row.hasAccessToken) at(p.probeAt, 'probe');
    }
  }
  let nextAt: number | null = null;
  for (const t of Object.values(lanes)) if (t !== null) nextAt = nextAt === null ? t : Math.min(nextAt, t);
  return { due, lanes, nextAt };
}
