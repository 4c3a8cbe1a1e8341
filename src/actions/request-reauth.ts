/**
 * Ask a human to re-authorize a connection (connect, the API, the dashboard, MCP, the daemon's
 * own requests): always through the re-auth orchestrator, which serialises requests per
 * connection (one open flow), arms two-way channels and device polling before the link leaves,
 * and records where the human was asked. The faces only say what happened
 * (docs/architecture.md, "Actions").
 */
import type { AskRequest, Orchestrator } from '../reauth/types.js';
import type { FlowRecord } from '../store/types.js';

/** What opens and sends a flow: the orchestrator (the daemon's, or one a short-lived face made). */
export type ReauthAsker = Pick<Orchestrator, 'requestReauthFrom'>;

export interface RequestReauthDeps {
  asker: ReauthAsker;
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
  // The open flow found is read in the orchestrator's per-connection order: concurrent asks see each other.
  const { flow, found } = await d.asker.requestReauthFrom(connection, req);
  const earlier = found && found.id === flow.id ? found.askedVia : [];
  return {
    flow,
    askedNow: flow.askedVia.filter((c) => !earlier.includes(c)),
    reused: found !== null && found.id === flow.id && found.askedVia.length > 0,
    unknownChannels: (req.via ?? []).filter((c) => d.channels[c] === undefined),
  };
}
