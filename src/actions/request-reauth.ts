/**
 * Ask a human to re-authorize a connection (connect, the API, the dashboard, MCP, the daemon's
 * own requests): always through the re-auth orchestrator, which serialises requests per
 * connection (one open flow), arms two-way channels and device polling before the link leaves,
 * and records where the human was asked. The faces only say what happened
 * (docs/architecture.md, "Actions").
 */
import type { Clock } from '../core/clock.js';
import type { AskRequest } from '../reauth/orchestrator.js';
import type { FlowRecord, Store } from '../store/types.js';

/** What opens and sends a flow: the orchestrator (the daemon's, or one a short-lived face made). */
export interface ReauthAsker {
  requestReauth(connection: string, req?: AskRequest): Promise<FlowRecord>;
}

export interface RequestReauthDeps {
  asker: ReauthAsker;
  store: Pick<Store, 'listOpenFlows'>;
  clock: Clock;
  /** Configured channels by name (to tell unknown names apart). */
  channels: Readonly<Record<string, unknown>>;
}

export interface ReauthOutcome {
  /** The open flow, as stored after sending (its `askedVia` says every channel that carried it). */
  flow: FlowRecord;
  /** Channels that accepted the link during this request. */
  askedNow: string[];
  /** A flow that had already reached the human was reused (nobody was asked twice). */
  reused: boolean;
  /** Channel names asked for that are not configured. */
  unknownChannels: string[];
}

/** Open (or reuse) the connection's flow and send its link; see {@link ReauthOutcome}. */
export async function requestReauth(
  d: RequestReauthDeps,
  connection: string,
  req: AskRequest = {},
): Promise<ReauthOutcome> {
  const now = d.clock.now();
  const before = (await d.store.listOpenFlows(connection)).find((f) => f.expiresAt > now);
  const flow = await d.asker.requestReauth(connection, req);
  const earlier = before && before.id === flow.id ? before.askedVia : [];
  return {
    flow,
    askedNow: flow.askedVia.filter((c) => !earlier.includes(c)),
    reused: before !== undefined && before.id === flow.id && before.askedVia.length > 0,
    unknownChannels: (req.via ?? []).filter((c) => d.channels[c] === undefined),
  };
}
