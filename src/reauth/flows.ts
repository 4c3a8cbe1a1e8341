/**
 * Human-assisted flows (the path of a paste: docs/architecture.md): open one (device code where the provider and scopes
 * allow it, else authorization code + PKCE S256 with a single-use state), persist it before
 * any link leaves, and complete it the instant the human's answer arrives — from any process,
 * since flows live in the store.
 *
 * The service serialises per connection and per flow; each step is its own module: opening
 * (flow-open.ts), the exchange of a paste (flow-exchange.ts), device polling (below), and storing
 * the completed grant (flow-complete.ts).
 */
import { InputError, TransientError, type DiagnosedCause } from '../core/errors.js';
import type { ConnectionRuntime } from '../keeper/runtime.js';
import type { FlowKind, FlowRecord } from '../store/types.js';
import { identityOfIdToken } from './account-check.js';
import { completeWithTokens } from './flow-complete.js';
import { joinedFailure } from './flow-errors.js';
import { exchangeClaimed, matchInput } from './flow-exchange.js';
import { openFlow, pickKind, type OpenOptions } from './flow-open.js';
import { runtimeOf, type CompletedFlow, type FlowServiceDeps } from './flow-types.js';

export {
  AUTH_LINK_TTL_MS,
  EXCHANGE_LEASE_MS,
  MAX_REFUSED_CODES,
  type CompletedFlow,
  type FlowServiceDeps,
} from './flow-types.js';
export { AccountChangeRefusedError, CodesRefusedError, FlowExpiredError, accountChangeReason } from './flow-errors.js';

/** How long opening a flow may hold the per-connection guard (discovery + device authorization request). */
const OPEN_LEASE_MS = 20_000;

export class FlowService {
  private readonly devicePolls = new Map<string, AbortController>();
  private readonly opening = new Map<string, Promise<FlowRecord>>();
  private readonly completing = new Map<string, Promise<CompletedFlow>>();

  constructor(private readonly deps: FlowServiceDeps) {}

  /** Which flow a connection gets: config `flow`, else device code when allowed, else auth code. */
  pickKind(rt: ConnectionRuntime): FlowKind {
    return pickKind(rt);
  }

  /**
   * Open a flow, or return the one already open for this connection (one at a time).
   * The flow row is committed before this resolves: callers send links only afterwards.
   */
  async open(name: string, opts: OpenOptions = {}): Promise<FlowRecord> {
    this.runtime(name);
    // One open flow per connection, across this process (single flight) and across processes
    // and hosts (a short store lease): two nodes noticing the same dead grant must not both
    // open a flow and message the human twice.
    const inflight = this.opening.get(name);
    if (inflight) return opts.fresh ? inflight.then(() => this.open(name, opts)) : inflight;
    const p = this.openExclusive(name, opts).finally(() => this.opening.delete(name));
    this.opening.set(name, p);
    return p;
  }

  private async openExclusive(name: string, opts: OpenOptions): Promise<FlowRecord> {
    const { store, clock, owner } = this.deps;
    const key = `flow-open:${name}`;
    const deadline = clock.now() + OPEN_LEASE_MS;
    while (!(await store.acquireLease(key, owner, OPEN_LEASE_MS, clock.now()))) {
      if (clock.now() > deadline)
        throw new TransientError(`Another process is opening a flow for "${name}"; try again shortly`);
      await clock.sleep(25);
    }
    try {
      return await openFlow(this.deps, name, opts);
    } finally {
      await store.releaseLease(key, owner).catch(() => undefined);
    }
  }

  /**
   * Complete an authorization-code flow from what the human sent back: the full redirect URL,
   * the URL inside other text, or a bare code when exactly one flow is open. One code exchange
   * per flow, however many times the answer arrives at once: submissions in this process join
   * the one in flight (single flight by flow id) and get its result; another process finds the
   * flow claimed and is refused. The code is exchanged at once.
   */
  async completeFromInput(input: string, opts: { via?: string; connection?: string } = {}): Promise<CompletedFlow> {
    const { flow, callback } = await matchInput(this.deps, input, opts.connection);
    const inflight = this.completing.get(flow.id);
    if (inflight) return inflight.catch((err: unknown) => Promise.reject(joinedFailure(err)));
    const p = exchangeClaimed(this.deps, flow, callback, opts.via ?? 'paste').finally(() =>
      this.completing.delete(flow.id),
    );
    this.completing.set(flow.id, p);
    return p;
  }

  /** Poll a device-code flow to completion (RFC 8628 §3.4); resolves when tokens are stored. */
  async completeDevice(flowId: string, opts: { signal?: AbortSignal } = {}): Promise<CompletedFlow> {
    const { store } = this.deps;
    const flow = await store.getFlow(flowId);
    if (!flow || flow.kind !== 'device_code' || !flow.deviceCode) throw new InputError(`No device flow ${flowId}`);
    const client = await this.runtime(flow.connection).client();
    const tokens = await client.pollDeviceAuthorization(
      {
        deviceCode: flow.deviceCode,
        userCode: flow.userCode ?? '',
        verificationUri: flow.url,
        expiresAt: flow.expiresAt,
        interval: flow.interval ?? 5,
      },
      opts.signal ? { signal: opts.signal } : {},
    );
    return completeWithTokens(this.deps, flow, tokens, 'device code');
  }

  /** Start polling open device flows in the background (daemon); idempotent. */
  watchDevice(flow: FlowRecord, onDone: (r: CompletedFlow | Error) => void): void {
    if (flow.kind !== 'device_code' || this.devicePolls.has(flow.id)) return;
    const ac = new AbortController();
    this.devicePolls.set(flow.id, ac);
    this.completeDevice(flow.id, { signal: ac.signal })
      .then(onDone, (e: unknown) => onDone(e as Error))
      .finally(() => this.devicePolls.delete(flow.id));
  }

  stopWatching(): void {
    for (const ac of this.devicePolls.values()) ac.abort(new Error('stopped'));
    this.devicePolls.clear();
  }

  private runtime(name: string): ConnectionRuntime {
    return runtimeOf(this.deps, name);
  }
}

/** Account identity from an ID token's claims (not verified here: display only). */
export function accountFromIdToken(idToken: string | undefined): string | null {
  return identityOfIdToken(idToken).label;
}

export type { DiagnosedCause };
