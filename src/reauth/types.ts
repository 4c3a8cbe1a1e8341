/**
 * The re-auth orchestrator's contract, used by the daemon, the HTTP API,
 * the dashboard and MCP. Implemented in reauth/orchestrator.ts.
 */
import type { ChannelMessage } from '../channels/types.js';
import type { FlowKind, FlowRecord } from '../store/types.js';
import type { CompletedFlow } from './flows.js';

/** Whether a connection needs its human now: its grant is dead, its predicted death is near, or neither. */
export type HumanNeed = 'dead' | 'predicted' | null;

export interface ReauthRequest {
  /** Why: a diagnosed cause id, `predicted`, `manual`. */
  reason?: string;
  /** Channels to ask, in order (default: the connection's `notify` list). */
  via?: string[];
  /** Replace an open flow with a fresh link. */
  fresh?: boolean;
}

export interface Orchestrator {
  /** Arm (persist the flow, ensure capture paths listen), then send the link. One open flow per connection. */
  requestReauth(connection: string, req?: ReauthRequest): Promise<FlowRecord>;
  /**
   * The same, in the same per-connection order, also saying which open flow the request found
   * before it ran (null: none), so the caller can tell who was asked now.
   */
  requestReauthFrom(connection: string, req?: AskRequest): Promise<{ flow: FlowRecord; found: FlowRecord | null }>;
  /**
   * The human's answer arrived (chat paste, dashboard form, API, callback). Exchanges at once.
   * On an expired/used code, opens a fresh flow and re-sends it (the returned error says so).
   */
  complete(input: string, opts: { via: string; sender?: string }): Promise<CompletedFlow>;
}

/** A request plus what the message should add: why it is sent again, and as what kind. */
export interface AskRequest extends ReauthRequest {
  note?: string;
  kind?: ChannelMessage['kind'];
  /** Force a device-code or authorization-code flow (default: what the connection allows). */
  flowKind?: FlowKind;
}
