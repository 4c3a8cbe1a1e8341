/**
 * The re-auth orchestrator: gets a human to re-authorize a connection, fast,
 * and never makes them do anything twice.
 *
 * - **Arm, then send.** The flow is persisted (`flows.open`), a device flow is already being
 *   polled and every two-way channel it will go through is listening before any message
 *   leaves; `askedVia` records where the human was asked.
 * - **One open flow per connection**: requests for a connection are serialised here, and
 *   `flows.open` returns the open flow instead of creating a second one.
 * - **Instant exchange**: a paste (chat, API, dashboard) or a callback goes straight to
 *   `flows.completeFromInput`; an expired link gets a fresh one at once, sent where the human
 *   was asked, saying why. A code the provider refuses keeps the link open; after three
 *   refusals the link closes and a fresh one is sent, at most once per 10 minutes (later ones
 *   wait for the reminder).
 * - **The human's time**: reminders after `remind_after`, escalating through the `notify` list
 *   in order; predicted (not yet dead) expiries wait for the end of `quiet_hours`, a dead
 *   credential does not; the human hears about the recovery too.
 *
 * The scheduler (reauth/scheduler.ts) calls {@link ReauthOrchestrator.followUp} when
 * {@link ReauthOrchestrator.followUpAt} says a flow is due.
 */
import type { EventEmitter } from 'node:events';
import type { Channel, ChannelMessage, IncomingPaste, PasteResult } from '../channels/types.js';
import type { Clock } from '../core/clock.js';
import { InputError, NotFoundError, TokenwardenError, type DiagnosedCause } from '../core/errors.js';
import { redact, type Logger } from '../core/logger.js';
import { needsHuman, type WardenEvent } from '../core/types.js';
import type { ConnectionRuntime } from '../keeper/runtime.js';
import type { ConnectionRecord, FlowRecord, Store } from '../store/types.js';
import type { NotifyDeps } from './notify.js';
import {
  AccountChangeRefusedError,
  CodesRefusedError,
  FlowExpiredError,
  type CompletedFlow,
  type FlowService,
} from './flows.js';
import { flowMessage, notifyFlow, withNote } from './notify.js';
import {
  REFUSED_REPLACEMENT_INTERVAL_MS,
  latestFlowFor,
  replaceExpired,
  replaceQuietly,
  type AnswerDeps,
} from './answers.js';
import { followUpFlow, type FollowUpDeps } from './follow-up.js';
import { KeyedQueue } from './keyed-queue.js';
import { announceRecovery, announceRejectedSecret, tell, type NoticeDeps } from './notices.js';
import { FreshLinkSentError, acceptedReply } from './replies.js';
import { nextAllowed, parseQuietHours, type QuietHours } from './quiet-hours.js';
import { renewalPlanFor, type RenewalRow } from './renewal.js';
import type { AskRequest, HumanNeed, Orchestrator } from './types.js';

export type { AskRequest, HumanNeed } from './types.js';

/** A refused answer is recorded in at most this many characters (its text can come from outside). */
const REJECTION_MESSAGE_CHARS = 500;

function capText(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

export interface OrchestratorOptions {
  /** Long-lived channels by config name (two-way ones are started here, with this orchestrator's paste handler). */
  channels: Map<string, Channel>;
  clock?: Clock;
  logger?: Logger;
  /** Where the human's browser reaches the daemon (callback route, dashboard paste form). */
  baseUrl?: string;
  /** Told how each device flow this orchestrator polls ended (`connect` waits on it). */
  onDeviceResult?: (flow: FlowRecord, result: CompletedFlow | Error) => void;
}

/** What the orchestrator uses; the root builds it (docs/architecture.md, "The object graph"). */
export interface OrchestratorDeps extends NotifyDeps {
  store: Store;
  flows: Pick<FlowService, 'open' | 'watchDevice' | 'stopWatching' | 'completeFromInput'>;
  /** Where recorded events and `reauth_required` are emitted. */
  events: EventEmitter;
}

/** Why a connection needs its human: dead now, or predicted to die within `reauth_lead`. */

export class ReauthOrchestrator implements Orchestrator {
  readonly channels: Map<string, Channel>;
  /** What the notices (recovery, rejected secrets, refused account changes) need. */
  private readonly notices: NoticeDeps;
  /** What replacing a link after a refused or late answer needs. */
  private readonly answers: AnswerDeps;
  /** What reminders, escalation and replacing an expired link need. */
  private readonly followUps: FollowUpDeps;
  private readonly clock: Clock;
  private readonly logger: Logger;
  /** Requests for a connection run one after the other (one open flow per connection). */
  private readonly queue = new KeyedQueue();
  private readonly listening = new Set<string>();
  private readonly quiet = new Map<string, QuietHours | null>();
  private readonly background = new Set<Promise<unknown>>();
  private readonly refusedReplacements = new Map<string, number>();
  private readonly onReauthRequired = (name: string, cause: DiagnosedCause): void =>
    this.track(
      this.warden.connections.get(name)?.config.kind === 'oauth'
        ? this.requestReauth(name, { reason: cause.id })
        : announceRejectedSecret(this.notices, name, cause),
    );
  private readonly onEvent = (e: WardenEvent): void => {
    if (e.type === 'reauth_completed' && e.connection) this.track(announceRecovery(this.notices, e));
  };
  private started = false;

  constructor(
    private readonly warden: OrchestratorDeps,
    readonly opts: OrchestratorOptions,
  ) {
    this.channels = opts.channels;
    this.clock = opts.clock ?? warden.deps.clock;
    this.logger = opts.logger ?? warden.deps.logger;
    this.answers = {
      sink: warden.sink,
      store: warden.store,
      clock: this.clock,
      config: warden.config,
      channels: this.channels,
      remindAfter: (name) => this.runtime(name).config.remind_after,
      requestReauth: (name, req) => this.requestReauth(name, req),
    };
    this.followUps = {
      store: warden.store,
      sink: warden.sink,
      channelsConfig: warden.config.channels,
      clock: this.clock,
      quietHours: (name) => this.quiet.get(name) ?? null,
      needsHuman: (name, row, now) => this.needsHuman(name, row, now),
      remindAfter: (name) => this.runtime(name).config.remind_after,
      notify: (name) => this.runtime(name).config.notify,
      ask: (name, req) => this.ask(name, req),
      send: (flow, targets, o) => this.send(flow, targets, o),
    };
    this.notices = {
      store: warden.store,
      connections: warden.connections,
      logger: this.logger,
      channel: (name) => this.channel(name),
    };
    for (const [name, rt] of warden.connections)
      this.quiet.set(
        name,
        rt.config.quiet_hours ? parseQuietHours(rt.config.quiet_hours, `connections.${name}.quiet_hours`) : null,
      );
  }

  /**
   * Hook into the keeper (`reauth_required`) and completions (recovery notices), and resume
   * polling of device flows that were open when the daemon last stopped.
   */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.warden.events.on('reauth_required', this.onReauthRequired);
    this.warden.events.on('event', this.onEvent);
    for (const f of await this.warden.store.listOpenFlows())
      if (f.kind === 'device_code' && f.expiresAt > this.clock.now()) this.watch(f);
  }

  /** Stop listening (long polls aborted, in-flight pastes finished), stop device polling, drain background work. */
  async stop(): Promise<void> {
    this.warden.events.off('reauth_required', this.onReauthRequired);
    this.warden.events.off('event', this.onEvent);
    this.started = false;
    await Promise.all(
      [...this.listening].map(async (name) => {
        await this.channels.get(name)?.stop?.();
      }),
    );
    this.listening.clear();
    this.warden.flows.stopWatching();
    while (this.background.size) await Promise.allSettled([...this.background]);
  }

  /** Start every two-way channel's listener (the daemon listens even before a flow is open). */
  async listenAll(): Promise<void> {
    await this.arm([...this.channels.keys()]);
  }

  // ---------------------------------------------------------------- asking

  requestReauth(connection: string, req: AskRequest = {}): Promise<FlowRecord> {
    return this.queue.run(connection, () => this.ask(connection, req));
  }

  async requestReauthFrom(
    connection: string,
    req: AskRequest = {},
  ): Promise<{ flow: FlowRecord; found: FlowRecord | null }> {
    return this.queue.run(connection, async () => {
      const now = this.clock.now();
      const found = (await this.warden.store.listOpenFlows(connection)).find((f) => f.expiresAt > now) ?? null;
      return { flow: await this.ask(connection, req), found };
    });
  }

  private async ask(connection: string, req: AskRequest): Promise<FlowRecord> {
    const rt = this.runtime(connection);
    const { store } = this.warden;
    if (rt.config.kind !== 'oauth') {
      // A client secret or service-account key is fixed in the config, never in a browser.
      const cause = (await store.getConnection(connection))?.cause;
      throw new TokenwardenError(
        'TW_USAGE',
        `"${connection}" is a ${rt.config.kind} connection: no browser authorization applies.${cause ? ` ${cause.summary} Fix: ${cause.fix}` : ''}`,
      );
    }
    const now = this.clock.now();
    const open = (await store.listOpenFlows(connection))[0];
    if (open && open.expiresAt > now && !req.fresh) {
      // Already asked: only channels named explicitly and not yet used get the link.
      const missing = (req.via ?? (open.askedVia.length ? [] : rt.config.notify)).filter(
        (c) => !open.askedVia.includes(c),
      );
      if (missing.length) await this.send(open, missing, { all: req.via !== undefined });
      return (await store.getFlow(open.id)) ?? open;
    }
    const reason = req.reason ?? open?.reason ?? 'manual';
    const flow = await this.warden.flows.open(connection, {
      reason,
      fresh: req.fresh ?? false,
      ...(req.flowKind ? { kind: req.flowKind } : {}),
    });
    if (reason === 'predicted') await this.markExpiring(connection);
    const targets = req.via ?? rt.config.notify;
    await this.send(flow, targets, {
      all: req.via !== undefined,
      ...(req.note ? { note: req.note } : {}),
      ...(req.kind ? { kind: req.kind } : {}),
    });
    return (await store.getFlow(flow.id)) ?? flow;
  }

  /**
   * Arm, then send: the flow is persisted already; start device polling and the listeners of
   * two-way channels before anything leaves. Without `all`, the first channel that accepts is
   * enough (escalation adds the next ones later).
   */
  private async send(
    flow: FlowRecord,
    targets: string[],
    o: { all: boolean; note?: string; kind?: ChannelMessage['kind'] },
  ): Promise<string[]> {
    if (flow.kind === 'device_code') this.watch(flow);
    const known = targets.filter((t) => {
      if (this.channels.has(t) || this.warden.config.channels[t]) return true;
      this.logger.warn('reauth: unknown channel in notify list', { connection: flow.connection, channel: t });
      return false;
    });
    await this.arm(known);
    const sent: string[] = [];
    let current = flow;
    for (const name of known) {
      const ok = await notifyFlow(this.warden, current, [name], {
        ...(o.kind ? { kind: o.kind } : {}),
        channelImpl: async (n) => withNote(await this.channel(n), o.note),
      });
      sent.push(...ok);
      current = (await this.warden.store.getFlow(flow.id)) ?? current;
      if (ok.length && !o.all) break;
    }
    if (!sent.length && known.length)
      this.logger.warn('reauth: no channel accepted the link', { connection: flow.connection, tried: known });
    return sent;
  }

  /** Make sure the capture paths of `names` listen (two-way channels). */
  private async arm(names: string[]): Promise<void> {
    for (const name of names) {
      if (this.listening.has(name)) continue;
      const ch = this.channels.get(name);
      if (!ch?.twoWay || !ch.start) continue;
      this.listening.add(name);
      await ch.start((p) => this.handlePaste(p));
    }
  }

  private watch(flow: FlowRecord): void {
    this.warden.flows.watchDevice(flow, (r) => {
      this.opts.onDeviceResult?.(flow, r);
      // Nobody pasted anything to answer: say it where the human was asked (read now: the
      // device flow was armed before the link was sent).
      if (r instanceof AccountChangeRefusedError)
        this.track(
          this.warden.store.getFlow(flow.id).then((f) =>
            tell(this.notices, (f ?? flow).askedVia, {
              kind: 'info',
              connection: flow.connection,
              title: `${flow.connection}: sign-in with another account refused`,
              text: r.message,
            }),
          ),
        );
      else if (r instanceof Error)
        this.logger.info('reauth: device flow ended without approval', {
          connection: flow.connection,
          error: redact(r.message),
        });
    });
  }

  // ---------------------------------------------------------------- answers

  async complete(input: string, opts: { via: string; sender?: string }): Promise<CompletedFlow> {
    try {
      return await this.warden.flows.completeFromInput(input, { via: opts.via });
    } catch (err) {
      if (err instanceof CodesRefusedError && this.replacementsLimited(err.flow.connection))
        throw await replaceQuietly(this.answers, err);
      if (err instanceof FlowExpiredError)
        throw await replaceExpired(this.answers, err.flow, err.message, opts.via, err);
      if (err instanceof InputError) {
        await this.warden.sink.emit({
          type: 'paste_rejected',
          connection: null,
          message: capText(redact(err.message), REJECTION_MESSAGE_CHARS),
          data: { via: opts.via, sender: opts.sender === undefined ? null : capText(opts.sender, 200) },
        });
        throw err;
      }
      throw err;
    }
  }

  /**
   * A link closed after refused codes may be someone probing with a leaked `state`: its fresh
   * replacement is sent at most once per REFUSED_REPLACEMENT_INTERVAL_MS and connection.
   */
  private replacementsLimited(connection: string): boolean {
    const now = this.clock.now();
    const last = this.refusedReplacements.get(connection);
    if (last !== undefined && now - last < REFUSED_REPLACEMENT_INTERVAL_MS) return true;
    this.refusedReplacements.set(connection, now);
    return false;
  }

  /** The two-way channels' handler: exchange at once, answer in words, delete the consumed message. */
  async handlePaste(paste: IncomingPaste): Promise<PasteResult> {
    try {
      const done = await this.complete(paste.text, { via: paste.channel, sender: paste.sender });
      return { ok: true, reply: acceptedReply(done), deleteMessage: true };
    } catch (err) {
      if (err instanceof FreshLinkSentError) return { ok: false, reply: redact(err.message), deleteMessage: true };
      if (err instanceof InputError) return { ok: false, reply: redact(err.message) };
      // The exchange failed without a verdict (provider down, timeout): the flow stays open, and
      // the same link works again while its code lives; if the provider did spend it, the next
      // try gets invalid_grant and a fresh link is sent at once.
      const flow = await latestFlowFor(this.answers, paste.text);
      const why = `The provider could not complete the exchange (${err instanceof TokenwardenError ? err.message : 'unexpected error'}).`;
      if (flow && flow.status === 'open')
        return {
          ok: false,
          reply: redact(
            `${why} Send the same link again in a moment; it stays valid until ${new Date(flow.expiresAt).toISOString()}.`,
          ),
        };
      return { ok: false, reply: redact(`${why} Try again in a moment.`) };
    }
  }

  // ---------------------------------------------------------------- the human's time

  /** Does `connection` need its human now? Dead states need one at once; a predicted death from its renewal time on. */
  needsHuman(connection: string, row: (Pick<ConnectionRecord, 'state'> & RenewalRow) | null, now: number): HumanNeed {
    if (!row) return null;
    // Only user grants are healed by a human in a browser; rejected secrets are fixed in the config.
    if (this.warden.connections.get(connection)?.config.kind !== 'oauth') return null;
    if (needsHuman(row.state)) return row.state === 'unauthorized' && !row.grantedAt ? null : 'dead';
    const at = this.renewalAt(connection, row);
    return at !== null && now >= at ? 'predicted' : null;
  }

  /** When a renewal flow opens: `reauth_lead` before the predicted death, moved out of quiet hours. */
  renewalAt(connection: string, row: RenewalRow): number | null {
    const rt = this.warden.connections.get(connection);
    return rt ? renewalPlanFor(rt.config, row, this.quiet.get(connection) ?? null) : null;
  }

  /** When an open flow next needs attention: a reminder, or its link expiring (predicted ones wait for quiet hours to end). */
  followUpAt(flow: FlowRecord, need: HumanNeed): number {
    const rt = this.warden.connections.get(flow.connection);
    const remindAfter = rt?.config.remind_after ?? 600_000;
    const at = Math.min(flow.expiresAt, (flow.remindedAt ?? flow.createdAt) + remindAfter);
    return need === 'predicted' ? nextAllowed(this.quiet.get(flow.connection) ?? null, at) : at;
  }

  /**
   * A flow is due: remind (escalating to the next `notify` channel), or replace an expired
   * link with a fresh one while the connection still needs its human.
   */
  followUp(flowId: string): Promise<void> {
    return this.queue.run(`flow:${flowId}`, async () => {
      const flow = await this.warden.store.getFlow(flowId);
      if (!flow || flow.status !== 'open') return;
      await this.queue.run(flow.connection, () => followUpFlow(this.followUps, flow));
    });
  }

  /** While a renewal flow is open the connection keeps serving, shown as `expiring`. */
  async markExpiring(connection: string): Promise<void> {
    const row = await this.warden.store.getConnection(connection);
    if (row?.state !== 'healthy') return;
    await this.warden.store.updateConnection(connection, { state: 'expiring' }, { now: this.clock.now() });
    await this.warden.sink.emit({
      type: 'expiring',
      connection,
      message: `The refresh token is predicted to die ${row.refreshExpiresAt ? `at ${new Date(row.refreshExpiresAt).toISOString()}` : 'soon'}; a renewal flow is open and the connection keeps working meanwhile.`,
      data: { refreshExpiresAt: row.refreshExpiresAt },
    });
  }

  // ---------------------------------------------------------------- plumbing

  private async channel(name: string): Promise<Channel> {
    const ch = this.channels.get(name);
    if (ch) return ch;
    const { buildChannel } = await import('./notify.js');
    const built = await buildChannel(this.warden, name);
    this.channels.set(name, built);
    return built;
  }

  private runtime(name: string): ConnectionRuntime {
    const rt = this.warden.connections.get(name);
    if (!rt) throw new NotFoundError(`No connection named "${name}" is configured.`);
    return rt;
  }

  private track(p: Promise<unknown>): void {
    const t = p.catch((err: unknown) =>
      this.logger.error('reauth: background step failed', { error: redact(String((err as Error)?.message ?? err)) }),
    );
    this.background.add(t);
    void t.finally(() => this.background.delete(t));
  }
}

export function createOrchestrator(warden: OrchestratorDeps, opts: OrchestratorOptions): ReauthOrchestrator {
  return new ReauthOrchestrator(warden, opts);
}

export { flowMessage };
export { FreshLinkSentError, acceptedReply } from './replies.js';
