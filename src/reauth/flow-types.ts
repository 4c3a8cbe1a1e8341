/**
 * What the flow service (flows.ts) and its parts share: their dependencies, the outcome of a
 * completed flow, and the limits on links and codes.
 */
import type { Clock } from '../core/clock.js';
import type { DiagnosedCause } from '../core/errors.js';
import { InputError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { EventSink } from '../core/types.js';
import type { Keeper } from '../keeper/keeper.js';
import type { ConnectionRuntime } from '../keeper/runtime.js';
import type { FlowKind, Store } from '../store/types.js';

/** How long an authorization link is offered before a fresh one replaces it (RFC 6749 §4.1.2: codes ≤ 10 min). */
export const AUTH_LINK_TTL_MS = 10 * 60_000;

/** How long one exchange may hold a flow before another paste of it may try (crash recovery). */
export const EXCHANGE_LEASE_MS = 30_000; // > the 15 s default provider timeout

/** Codes the provider may refuse for one link before it closes (a leaked state plus junk codes must not burn links at will). */
export const MAX_REFUSED_CODES = 3;

export interface FlowServiceDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  events: EventSink;
  keeper: Keeper;
  connections: ReadonlyMap<string, ConnectionRuntime>;
  /** This process's lease owner id (claims a flow while its code is exchanged). */
  owner: string;
  /** For the provider's profile endpoint when new tokens carry no ID token (account identity). */
  fetch?: typeof fetch | undefined;
  /** The redirect URI callbacks reach when the connection config names none (server.public_url + /oauth/callback). */
  defaultRedirectUri?: string | undefined;
}

export interface CompletedFlow {
  connection: string;
  flowId: string;
  account: string | null;
  kind: FlowKind;
  /** Something the human must know now (no refresh token came back: the grant dies with its access token). */
  warning?: DiagnosedCause;
}

/** The connection's runtime; an unknown name is the caller's mistake. */
export function runtimeOf(deps: FlowServiceDeps, name: string): ConnectionRuntime {
  const rt = deps.connections.get(name);
  if (!rt) throw new InputError(`No connection named "${name}" is configured.`);
  return rt;
}
