/**
 * Sending a flow's link through channels. The flow is already persisted (armed) when this runs;
 * `askedVia` records where the human was asked, for status and ReauthRequiredError.
 */
import type { Channel, ChannelMessage } from '../channels/types.js';
import { NotFoundError, channelNames, type DiagnosedCause } from '../core/errors.js';
import { learnedView } from '../keeper/learned.js';
import type { ConnectionRuntime } from '../keeper/runtime.js';
import { CAUSES, causeSentence } from '../providers/causes.js';
import { onlyBasicScopes } from '../providers/google.js';
import type { ConnectionRecord, FlowRecord, Store } from '../store/types.js';
import type { Config } from '../config/schema.js';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { EventSink } from '../core/types.js';

/** What sending a flow's link needs; the root builds it (docs/architecture.md, "The object graph"). */
export interface NotifyDeps {
  config: Pick<Config, 'channels' | 'server'>;
  store: Pick<Store, 'getConnection' | 'updateFlow'>;
  sink: EventSink;
  connections: ReadonlyMap<string, ConnectionRuntime>;
  deps: { clock: Clock; logger: Logger; fetch: typeof fetch };
  /** Routes that still work while a connection waits for its human. */
  fallbacksFor(conn: string): string[];
}

/** Build channels lazily from config (the daemon keeps long-lived two-way ones itself). */
export async function buildChannel(warden: Pick<NotifyDeps, 'config' | 'deps'>, name: string): Promise<Channel> {
  const cfg = warden.config.channels[name];
  if (!cfg) throw new NotFoundError(`unknown channel "${name}"`);
  const { createChannel } = await import('../channels/index.js');
  return createChannel(name, cfg, { clock: warden.deps.clock, logger: warden.deps.logger, fetch: warden.deps.fetch });
}

/**
 * The one message every channel renders for a flow: what happened (the diagnosed cause, or the
 * predicted death and the rule behind it), what to do now (open the link once, its expiry, where
 * to paste), what to change so it does not happen again, and what still works meanwhile.
 */
export function flowMessage(
  warden: Pick<NotifyDeps, 'config' | 'connections' | 'fallbacksFor'>,
  flow: FlowRecord,
  kind: ChannelMessage['kind'] = 'reauth_request',
  row: ConnectionRecord | null = null,
): ChannelMessage {
  const rt = warden.connections.get(flow.connection);
  const base = warden.config.server.public_url;
  const pasteHint =
    flow.kind === 'device_code'
      ? undefined
      : base
        ? `If the page your browser ends on does not load, copy its address and paste it at ${new URL('/', base).toString()} (dashboard), or run: tokenwarden complete '<that address>'`
        : "If the page your browser ends on does not load, copy its address and run: tokenwarden complete '<that address>'";
  const story = rt ? whatHappened(rt, flow, row) : { cause: undefined, fix: undefined };
  const fallbacks = warden.fallbacksFor(flow.connection);
  const keepsWorking = flow.reason === 'predicted' ? [`${flow.connection} itself, until then`] : [];
  return {
    kind,
    connection: flow.connection,
    title: `${kind === 'reminder' ? 'Reminder: ' : ''}Re-authorize ${flow.connection} (${rt?.profile.displayName ?? 'OAuth'})`,
    ...(story.cause ? { cause: story.cause } : {}),
    text:
      (flow.kind === 'device_code'
        ? `Open the link and enter code ${flow.userCode ?? ''}.`
        : 'Open the link, sign in and approve.') + (story.now ? ` ${story.now}` : ''),
    ...(story.fix ? { fix: story.fix } : {}),
    ...(fallbacks.length || keepsWorking.length ? { fallbacks: [...keepsWorking, ...fallbacks] } : {}),
    url: flow.url,
    ...(flow.userCode ? { userCode: flow.userCode } : {}),
    expiresAt: flow.expiresAt,
    flowId: flow.id,
    ...(pasteHint ? { pasteHint } : {}),
  };
}

/** What happened and what to change, from the stored diagnosis (or the prediction and its rule). */
function whatHappened(
  rt: ConnectionRuntime,
  flow: FlowRecord,
  row: ConnectionRecord | null,
): { cause?: string | undefined; fix?: string | undefined; now?: string | undefined } {
  // Without a refresh token the "predicted death" is the access token's: the stored cause says so.
  if (flow.reason === 'predicted' && row?.cause?.id !== 'no_refresh_token') {
    const when = row?.refreshExpiresAt
      ? ` at ${new Date(row.refreshExpiresAt).toISOString().slice(0, 16).replace('T', ' ')} UTC`
      : ' soon';
    const rule = predictedRule(rt, row);
    return {
      cause: `The refresh token is predicted to die${when}; renewing now avoids any gap.${rule ? ` ${causeSentence(rule)}` : ''}`,
      fix: rule ? splitFix(rule.fix).prevent : undefined,
    };
  }
  const cause = row?.cause ?? null;
  if (!cause) return {};
  const { now, prevent } = splitFix(cause.fix);
  return { cause: causeSentence(cause), fix: prevent, now };
}

/** The rule behind a predicted death, when one is known: a learned lifetime or a declared Google Testing app. */
function predictedRule(rt: ConnectionRuntime, row: ConnectionRecord | null): DiagnosedCause | null {
  const learned = learnedView(rt.config, row?.lifetime ?? null);
  if (learned?.cause) return learned.cause;
  const scopes = row?.scope ? row.scope.split(' ') : rt.config.scopes;
  if (rt.profile.id === 'google' && rt.config.app_status === 'testing' && !onlyBasicScopes(scopes))
    return CAUSES.google_testing_expiry;
  return null;
}

/**
 * A fix split into what to do now and what prevents a repeat: "Re-authorize now; to stop the
 * weekly expiry, publish the app…" → prevent "To stop the weekly expiry, publish the app…";
 * "Re-authorize with the new password." → now (how to re-authorize); a bare "Re-authorize the
 * connection." → neither (the link already says so).
 */
export function splitFix(fix: string): { now?: string; prevent?: string } {
  const text = fix.trim();
  const m = /^Re-authorize(?: now| the connection)?\s*[;,.]\s*(.*)$/s.exec(text);
  if (m) {
    const rest = (m[1] ?? '').trim();
    return rest ? { prevent: (rest[0] ?? '').toUpperCase() + rest.slice(1) } : {};
  }
  if (text.startsWith('Re-authorize')) return { now: text };
  return text ? { prevent: text } : {};
}

/** Send the flow's link through `channels` in order; record each that accepted it. */
export async function notifyFlow(
  warden: NotifyDeps,
  flow: FlowRecord,
  channels: string[],
  opts: { kind?: ChannelMessage['kind']; channelImpl?: (name: string) => Promise<Channel> } = {},
): Promise<string[]> {
  const sent: string[] = [];
  let row: ConnectionRecord | null | undefined;
  for (const name of channels) {
    try {
      const ch = await (opts.channelImpl ?? ((n: string) => buildChannel(warden, n)))(name);
      await ch.send(flowMessage(warden, flow, opts.kind, (row ??= await warden.store.getConnection(flow.connection))));
      sent.push(name);
    } catch (err) {
      await warden.sink.emit({
        type: 'channel_error',
        connection: flow.connection,
        message: `Could not reach the human via ${channelNames([name], warden.config.channels)}: ${(err as Error).message}`,
        data: { channel: name },
      });
    }
  }
  if (sent.length) await warden.store.updateFlow(flow.id, { askedVia: [...new Set([...flow.askedVia, ...sent])] });
  return sent;
}

/** Channels for the next ask: those already asked, plus (when a reminder is due) the next in `notify` order. */
export function escalate(askedVia: string[], notify: string[], step: boolean): string[] {
  const out = notify.filter((c) => askedVia.includes(c));
  for (const c of askedVia) if (!out.includes(c)) out.push(c);
  if (step) {
    const next = notify.find((c) => !out.includes(c));
    if (next) out.push(next);
  }
  if (!out.length && notify[0]) out.push(notify[0]);
  return out;
}

/** A channel whose messages start with `note` (why this link replaces an earlier one). */
export function withNote(ch: Channel, note: string | undefined): Channel {
  if (!note) return ch;
  return {
    name: ch.name,
    type: ch.type,
    twoWay: ch.twoWay,
    send: (m) => ch.send({ ...m, text: `${note} ${m.text}` }),
  };
}
