/**
 * Human-assisted flows (the path of a paste: docs/architecture.md): open one (device code where the provider and scopes
 * allow it, else authorization code + PKCE S256 with a single-use state), persist it before
 * any link leaves, and complete it the instant the human's answer arrives — from any process,
 * since flows live in the store.
 */
import { randomBytes } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import { InputError, ProviderError, TokenwardenError, TransientError, type DiagnosedCause } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { EventSink, TokenSet } from '../core/types.js';
import type { Keeper } from '../keeper/keeper.js';
import type { ConnectionRuntime } from '../keeper/runtime.js';
import type { FlowKind, FlowRecord, Store } from '../store/types.js';
import { compareAccounts, identityOfIdToken, identityOfRow, identityOfTokens } from './account-check.js';
import { parsePaste } from './paste.js';

/** How long an authorization link is offered before a fresh one replaces it (RFC 6749 §4.1.2: codes ≤ 10 min). */
export const AUTH_LINK_TTL_MS = 10 * 60_000;

/** How long opening a flow may hold the per-connection guard (discovery + device authorization request). */
const OPEN_LEASE_MS = 20_000;

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

export class FlowService {
  private readonly devicePolls = new Map<string, AbortController>();
  private readonly opening = new Map<string, Promise<FlowRecord>>();
  private readonly completing = new Map<string, Promise<CompletedFlow>>();

  constructor(private readonly deps: FlowServiceDeps) {}

  /** Which flow a connection gets: config `flow`, else device code when allowed, else auth code. */
  pickKind(rt: ConnectionRuntime): FlowKind {
    if (rt.config.flow === 'device') return 'device_code';
    if (rt.config.flow === 'auth_code') return 'auth_code';
    const hasDevice = Boolean(rt.profile.endpoints.deviceUrl) || rt.profile.id === 'oidc';
    return hasDevice && rt.profile.deviceFlowAllowed(rt.config.scopes) ? 'device_code' : 'auth_code';
  }

  /**
   * Open a flow, or return the one already open for this connection (one at a time).
   * The flow row is committed before this resolves: callers send links only afterwards.
   */
  async open(name: string, opts: { reason?: string; kind?: FlowKind; fresh?: boolean } = {}): Promise<FlowRecord> {
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

  private async openExclusive(
    name: string,
    opts: { reason?: string; kind?: FlowKind; fresh?: boolean },
  ): Promise<FlowRecord> {
    const { store, clock, owner } = this.deps;
    const key = `flow-open:${name}`;
    const deadline = clock.now() + OPEN_LEASE_MS;
    while (!(await store.acquireLease(key, owner, OPEN_LEASE_MS, clock.now()))) {
      if (clock.now() > deadline)
        throw new TransientError(`Another process is opening a flow for "${name}"; try again shortly`);
      await clock.sleep(25);
    }
    try {
      return await this.openUnderLease(name, opts);
    } finally {
      await store.releaseLease(key, owner).catch(() => undefined);
    }
  }

  private async openUnderLease(
    name: string,
    opts: { reason?: string; kind?: FlowKind; fresh?: boolean },
  ): Promise<FlowRecord> {
    const rt = this.runtime(name);
    const { store, clock } = this.deps;
    const now = clock.now();
    for (const f of await store.listOpenFlows(name)) {
      if (f.expiresAt > now && !opts.fresh) return f;
      await store.finishFlow(
        f.id,
        opts.fresh && f.expiresAt > now ? 'cancelled' : 'expired',
        now,
        opts.fresh ? 'replaced by a fresh link' : 'link expired',
      );
    }
    await store.ensureConnection(name, now);
    let kind = opts.kind ?? this.pickKind(rt);
    let deviceError: unknown = null;
    const client = await rt.client();
    const id = randomBytes(9).toString('base64url');
    if (kind === 'device_code') {
      try {
        const d = await client.startDeviceAuthorization();
        const flow = await store.createFlow({
          id,
          connection: name,
          kind,
          state: null,
          codeVerifier: null,
          deviceCode: d.deviceCode,
          nonce: null,
          userCode: d.userCode,
          url: d.verificationUriComplete ?? d.verificationUri,
          redirectUri: null,
          interval: d.interval,
          reason: opts.reason ?? 'manual',
          askedVia: [],
          createdAt: now,
          expiresAt: d.expiresAt,
        });
        await this.opened(flow);
        return flow;
      } catch (err) {
        if (opts.kind === 'device_code' || rt.config.flow === 'device') throw err;
        this.deps.logger.info('device flow unavailable, using authorization code', {
          connection: name,
          error: (err as Error).message,
        });
        kind = 'auth_code';
        deviceError = err;
      }
    }
    const redirectUri = rt.config.redirect_uri ?? this.deps.defaultRedirectUri;
    if (!redirectUri) {
      // The device flow failed and there is no auth-code fallback: its failure is the real story.
      if (deviceError instanceof TransientError) throw deviceError;
      throw new TokenwardenError('TW_CONFIG', deviceUnavailableMessage(name, rt, deviceError));
    }
    const req = await client.authorizationRequest({
      redirectUri,
      ...(rt.config.auth_params ? { extraParams: rt.config.auth_params } : {}),
    });
    const flow = await store.createFlow({
      id,
      connection: name,
      kind: 'auth_code',
      state: req.state,
      codeVerifier: req.codeVerifier,
      deviceCode: null,
      nonce: req.nonce ?? null,
      userCode: null,
      url: req.url,
      redirectUri: req.redirectUri,
      interval: null,
      reason: opts.reason ?? 'manual',
      askedVia: [],
      createdAt: now,
      expiresAt: now + AUTH_LINK_TTL_MS,
    });
    await this.opened(flow);
    return flow;
  }

  private async opened(flow: FlowRecord): Promise<void> {
    const current = await this.deps.store.getConnection(flow.connection);
    if (current && (current.state === 'reauth_required' || current.state === 'unauthorized'))
      await this.deps.store.updateConnection(
        flow.connection,
        { state: current.state === 'reauth_required' ? 'awaiting_human' : current.state },
        { now: this.deps.clock.now() },
      );
    await this.deps.events.emit({
      type: 'reauth_requested',
      connection: flow.connection,
      message: `Opened ${flow.kind === 'device_code' ? 'a device-code' : 'an authorization-code'} flow (${flow.reason ?? 'manual'}); link valid until ${new Date(flow.expiresAt).toISOString()}.`,
      data: { flowId: flow.id, kind: flow.kind, expiresAt: flow.expiresAt, reason: flow.reason },
    });
  }

  /**
   * Complete an authorization-code flow from what the human sent back: the full redirect URL,
   * the URL inside other text, or a bare code when exactly one flow is open. One code exchange
   * per flow, however many times the answer arrives at once: submissions in this process join
   * the one in flight (single flight by flow id) and get its result; another process finds the
   * flow claimed and is refused. The code is exchanged at once.
   */
  async completeFromInput(input: string, opts: { via?: string; connection?: string } = {}): Promise<CompletedFlow> {
    const { flow, callback } = await this.matchInput(input, opts.connection);
    const inflight = this.completing.get(flow.id);
    if (inflight) return inflight.catch((err: unknown) => Promise.reject(joinedFailure(err)));
    const p = this.exchangeClaimed(flow, callback, opts.via ?? 'paste').finally(() => this.completing.delete(flow.id));
    this.completing.set(flow.id, p);
    return p;
  }

  /** The open authorization-code flow the human's answer belongs to, and the callback URL to exchange. */
  private async matchInput(input: string, connection?: string): Promise<{ flow: FlowRecord; callback: URL }> {
    const parsed = parsePaste(input);
    const { store, clock } = this.deps;
    if (parsed.kind === 'invalid') throw new InputError(`Not accepted: ${parsed.reason}`);
    let flow: FlowRecord | null;
    let callback: URL;
    if (parsed.kind === 'redirect') {
      if (parsed.error)
        throw new InputError(
          `The provider returned an error instead of a code: ${parsed.error}${parsed.errorDescription ? ` (${parsed.errorDescription})` : ''}. Open a new link to try again.`,
        );
      if (!parsed.state)
        throw new InputError('Not accepted: the URL has no state parameter, so it cannot be matched to an open flow.');
      flow = await store.findFlowByState(parsed.state);
      if (!flow)
        throw new InputError('Not accepted: this link does not match any flow tokenwarden opened (unknown state).');
      callback = parsed.url;
    } else {
      const open = (await store.listOpenFlows(connection)).filter((f) => f.kind === 'auth_code');
      if (open.length !== 1)
        throw new InputError(
          open.length === 0
            ? 'Not accepted: no authorization flow is open.'
            : 'Not accepted: several flows are open; paste the whole redirect URL so its state picks the right one.',
        );
      flow = open[0] as FlowRecord;
      const u = new URL(flow.redirectUri ?? 'http://127.0.0.1/');
      u.searchParams.set('code', parsed.code);
      u.searchParams.set('state', flow.state ?? '');
      callback = u;
    }
    if (flow.kind !== 'auth_code')
      throw new InputError('Not accepted: that flow is a device-code flow; approve it on the provider page instead.');
    if (flow.status !== 'open')
      throw new InputError(`Not accepted: this link was already used or closed (${flow.outcome ?? flow.status}).`);
    const now = clock.now();
    if (flow.expiresAt <= now) {
      // Only the submission that closes it asks for a fresh link (one fresh link, not one per copy).
      if (!(await store.finishFlow(flow.id, 'expired', now, 'link expired')))
        throw new InputError('Not accepted: this link was already used or closed.');
      throw new FlowExpiredError(flow, 'The link expired before it was used.');
    }
    return { flow, callback };
  }

  /**
   * Claim the flow for this one exchange (not by closing it): a lease whose owner is a token of
   * this attempt alone, so a second submission — from this process or another — can never
   * share it; a code redeemed twice makes the provider revoke the grant (RFC 6749 §4.1.2). A
   * crash or a network failure mid-exchange leaves the flow open, so the human's same link
   * still works once the claim lapses (EXCHANGE_LEASE_MS).
   */
  private async exchangeClaimed(flow: FlowRecord, callback: URL, via: string): Promise<CompletedFlow> {
    const { store, clock } = this.deps;
    const claim = `flow:${flow.id}`;
    const token = `${this.deps.owner}:claim:${randomBytes(9).toString('base64url')}`;
    if (!(await store.acquireLease(claim, token, EXCHANGE_LEASE_MS, clock.now())))
      throw new InputError(
        'Not accepted: this link is already being completed (it was sent more than once); the first submission decides.',
      );
    try {
      const current = await store.getFlow(flow.id);
      if (!current || current.status !== 'open')
        throw new InputError(`Not accepted: this link was already used (${current?.outcome ?? 'closed'}).`);
      const rt = this.runtime(flow.connection);
      let tokens: TokenSet;
      try {
        const client = await rt.client();
        tokens = await client.exchangeCode(callback, {
          state: flow.state ?? '',
          codeVerifier: flow.codeVerifier ?? '',
          redirectUri: flow.redirectUri ?? '',
          nonce: flow.nonce ?? undefined,
        });
      } catch (err) {
        const refused = refusedCodes(current.outcome);
        if (err instanceof ProviderError && err.error === 'invalid_grant') return await this.codeRefused(current, err);
        await store
          .updateFlow(flow.id, {
            outcome: `exchange failed (${errorLabel(err)}); link still open${refused ? `; ${refusedNote(refused)}` : ''}`,
          })
          .catch(() => undefined);
        throw err;
      }
      return await this.authorized(flow, tokens, via);
    } finally {
      await store.releaseLease(claim, token).catch(() => undefined);
    }
  }

  /**
   * The provider refused the code (expired, already used, or junk sent with a leaked state).
   * The link stays open for the human's next try — opening it again yields a new code — up to
   * MAX_REFUSED_CODES refusals; then it closes and the caller may send a fresh link.
   */
  private async codeRefused(flow: FlowRecord, err: ProviderError): Promise<never> {
    const { store, clock } = this.deps;
    const n = refusedCodes(flow.outcome) + 1;
    if (n < MAX_REFUSED_CODES) {
      await store.updateFlow(flow.id, { outcome: `link still open; ${refusedNote(n)}` });
      throw new InputError(
        `Not accepted: the provider refused this code (it expired, was already used, or was not issued for this link). The link stays open: open it again and send back the new address (${MAX_REFUSED_CODES - n} more ${MAX_REFUSED_CODES - n === 1 ? 'try' : 'tries'} before it closes).`,
        { cause: err },
      );
    }
    await store.finishFlow(flow.id, 'failed', clock.now(), `link closed; ${refusedNote(n)}`);
    throw new CodesRefusedError(
      flow,
      `The provider refused ${n} codes sent for this link (expired, already used, or not issued for it), so the link was closed.`,
      err,
    );
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
    return this.authorized(flow, tokens, 'device code');
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

  /**
   * The account is checked first (another account than the connection's is refused unless
   * allowed), then tokens (the credential is what matters), then the flow is closed, then the event.
   */
  private async authorized(flow: FlowRecord, tokens: TokenSet, via: string): Promise<CompletedFlow> {
    const { store, clock, events } = this.deps;
    const rt = this.runtime(flow.connection);
    const next = await identityOfTokens(rt, tokens, this.deps.fetch);
    const verdict = compareAccounts(identityOfRow(await store.getConnection(flow.connection)), next);
    const confirmed = verdict.kind === 'changed' && flow.reason === accountChangeReason(verdict.to);
    if (verdict.kind === 'changed' && !rt.config.allow_account_change && !confirmed)
      await this.refuseAccountChange(flow, verdict);
    const account = next.label;
    const stored = await this.deps.keeper.storeGrant(flow.connection, tokens, account ? { account } : {});
    const now = clock.now();
    if (!(await store.finishFlow(flow.id, 'completed', now, `completed via ${via}`)))
      this.deps.logger.warn('flow was closed meanwhile; the new tokens are stored regardless', { flowId: flow.id });
    if (verdict.kind === 'changed')
      await events.emit({
        type: 'account_changed',
        connection: flow.connection,
        message: `The connection now belongs to ${verdict.to} (was ${verdict.from}); ${confirmed ? 'confirmed in the dashboard' : `allowed by connections.${flow.connection}.allow_account_change`}.`,
        data: { flowId: flow.id, from: verdict.from, to: verdict.to, via },
      });
    const ms = now - flow.createdAt;
    await events.emit({
      type: 'reauth_completed',
      connection: flow.connection,
      message: `Authorized via ${via}${account ? ` as ${account}` : ''}; the connection is healthy.${verdict.kind === 'unknown' ? ` The account could not be compared with the previous one: ${verdict.why}.` : ''}`,
      data: { flowId: flow.id, kind: flow.kind, via, msSinceAsked: ms, accountCheck: verdict.kind },
    });
    return {
      connection: flow.connection,
      flowId: flow.id,
      account,
      kind: flow.kind,
      ...(stored.cause ? { warning: stored.cause } : {}),
    };
  }

  /** Another account completed the link: nothing is stored, the flow fails, and it is recorded. */
  private async refuseAccountChange(flow: FlowRecord, v: { from: string; to: string }): Promise<never> {
    const { store, clock, events } = this.deps;
    await store.finishFlow(
      flow.id,
      'failed',
      clock.now(),
      `refused: completed as ${v.to}, the connection belongs to ${v.from}`,
    );
    await events.emit({
      type: 'account_change_refused',
      connection: flow.connection,
      message: `A re-authorization of ${flow.connection} was completed with account ${v.to}, but the connection belongs to ${v.from}; refused, the stored tokens are unchanged.`,
      data: { flowId: flow.id, belongsTo: v.from, completedAs: v.to },
    });
    throw new AccountChangeRefusedError(
      `Not accepted: this link was completed with account ${v.to}, but ${flow.connection} belongs to ${v.from}; nothing was changed. Ask for a fresh link and sign in as ${v.from}; to switch accounts, confirm the change in the dashboard or set connections.${flow.connection}.allow_account_change: true.`,
    );
  }

  private runtime(name: string): ConnectionRuntime {
    const rt = this.deps.connections.get(name);
    if (!rt) throw new InputError(`No connection named "${name}" is configured.`);
    return rt;
  }
}

/** The link was completed with another account than the connection's: refused, nothing stored. */
export class AccountChangeRefusedError extends InputError {}

/** The code or link expired (or was used): the caller should open a fresh flow at once. */
export class FlowExpiredError extends InputError {
  constructor(
    readonly flow: FlowRecord,
    why: string,
    cause?: unknown,
  ) {
    super(`${why} A fresh link is needed.`, { cause });
  }
}

/** The provider refused MAX_REFUSED_CODES codes for one link, which is now closed (a fresh link is rate-limited). */
export class CodesRefusedError extends FlowExpiredError {}

/**
 * The `reason` of a flow opened to switch a connection to `account` (the operator confirmed a
 * refused account change in the dashboard): that flow accepts that one account.
 */
export function accountChangeReason(account: string): string {
  return `account_change:${account}`;
}

/** A submission that joined one in flight: the same outcome, except that only the first asks for a fresh link. */
function joinedFailure(err: unknown): unknown {
  if (!(err instanceof FlowExpiredError)) return err;
  return new InputError(`Not accepted: ${err.message.replace(/ A fresh link is needed\.$/, '')}`, { cause: err });
}

/** How many codes the provider refused for a flow so far (kept in its outcome note). */
function refusedCodes(outcome: string | null): number {
  const m = /codes refused: (\d+)\//.exec(outcome ?? '');
  return m ? Number(m[1]) : 0;
}

function refusedNote(n: number): string {
  return `codes refused: ${n}/${MAX_REFUSED_CODES}`;
}

/** Why `connect` cannot proceed: the device flow was refused and no redirect URI allows the auth-code flow. */
function deviceUnavailableMessage(name: string, rt: ConnectionRuntime, err: unknown): string {
  const redirect = `connections.${name}.redirect_uri: required for the authorization-code flow (or set server.public_url)`;
  if (err === null) return redirect;
  const said = err instanceof ProviderError ? err.error : (err as Error).message;
  const fix =
    err instanceof ProviderError && err.error === 'device_flow_disabled'
      ? `enable Device Flow in the ${rt.profile.displayName} app's settings, or set connections.${name}.redirect_uri to use the authorization-code flow`
      : `fix the device flow, or set connections.${name}.redirect_uri (or server.public_url) to use the authorization-code flow`;
  return `connections.${name}: the device flow is not possible (${rt.profile.displayName} answered: ${said}); ${fix}`;
}

function errorLabel(err: unknown): string {
  if (err instanceof ProviderError) return err.error;
  if (err instanceof TokenwardenError) return err.code;
  return 'error';
}

/** Account identity from an ID token's claims (not verified here: display only). */
export function accountFromIdToken(idToken: string | undefined): string | null {
  return identityOfIdToken(idToken).label;
}

export type { DiagnosedCause };
