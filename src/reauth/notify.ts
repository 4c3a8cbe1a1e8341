/**
 * Sending a flow's link through channels. The flow is already persisted (armed) when this runs;
 * `askedVia` records where the human was asked, for status and ReauthRequiredError.
 */
import type { Channel, ChannelMessage } from '../channels/types.js';
import { formatDuration } from '../core/duration.js';
import type { FlowRecord } from '../store/types.js';
import type { Warden } from '../warden.js';

/** Build channels lazily from config (the daemon keeps long-lived two-way ones itself). */
export async function buildChannel(warden: Warden, name: string): Promise<Channel> {
  const cfg = warden.config.channels[name];
  if (!cfg) throw new Error(`unknown channel "${name}"`);
  const { createChannel } = await import('../channels/index.js');
  return createChannel(name, cfg, { clock: warden.deps.clock, logger: warden.deps.logger, fetch: warden.deps.fetch });
}

export function flowMessage(
  warden: Warden,
  flow: FlowRecord,
  kind: ChannelMessage['kind'] = 'reauth_request',
): ChannelMessage {
  const now = warden.deps.clock.now();
  const row = warden.connections.get(flow.connection);
  const base = warden.config.server.public_url;
  const pasteHint =
    flow.kind === 'device_code'
      ? undefined
      : base
        ? `Paste the final address at ${new URL('/', base).toString()} (dashboard) or run: tokenwarden complete '<url>'`
        : "Then run: tokenwarden complete '<the address your browser ended on>'";
  const why = flow.reason && flow.reason !== 'manual' ? ` Reason: ${flow.reason}.` : '';
  return {
    kind,
    connection: flow.connection,
    title: `${kind === 'reminder' ? 'Reminder: ' : ''}Re-authorize ${flow.connection} (${row?.profile.displayName ?? 'OAuth'})`,
    text:
      (flow.kind === 'device_code'
        ? `Open the link and enter code ${flow.userCode ?? ''}.`
        : 'Open the link, sign in and approve; then send back the address the browser ends on.') +
      ` The link expires in ${formatDuration(flow.expiresAt - now)}.${why}`,
    url: flow.url,
    ...(flow.userCode ? { userCode: flow.userCode } : {}),
    expiresAt: flow.expiresAt,
    flowId: flow.id,
    ...(pasteHint ? { pasteHint } : {}),
  };
}

/** Send the flow's link through `channels` in order; record each that accepted it. */
export async function notifyFlow(
  warden: Warden,
  flow: FlowRecord,
  channels: string[],
  opts: { kind?: ChannelMessage['kind']; channelImpl?: (name: string) => Promise<Channel> } = {},
): Promise<string[]> {
  const sent: string[] = [];
  for (const name of channels) {
    try {
      const ch = await (opts.channelImpl ?? ((n: string) => buildChannel(warden, n)))(name);
      await ch.send(flowMessage(warden, flow, opts.kind));
      sent.push(name);
    } catch (err) {
      await warden.sink.emit({
        type: 'channel_error',
        connection: flow.connection,
        message: `Could not reach the human via ${name}: ${(err as Error).message}`,
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
  return { name: ch.name, type: ch.type, twoWay: ch.twoWay, send: (m) => ch.send({ ...m, text: `${note} ${m.text}` }) };
}
