/**
 * `tokenwarden connect <conn>`: asks for a human through the same re-authorization path as the
 * daemon (the orchestrator: one open flow per connection, two-way channels listening before
 * the link leaves), prints the link, a terminal QR code and a countdown, and waits until the
 * flow finishes anywhere:
 *
 * - the device approval, a loopback callback (redirect URI `http://127.0.0.1:PORT/...`), or
 *   the redirect URL pasted on stdin;
 * - a paste in the chat the link went to (`--via telegram`): this process listens there itself
 *   unless a daemon holds the store, whose listener then takes it (one poller per bot);
 * - anything another process does (daemon callback, dashboard, `tokenwarden complete`): the
 *   flow's row in the store is watched.
 *
 * It ends when the link expires unanswered (exit 5). `--no-wait` persists the flow and exits so
 * `complete` (or a daemon's listener) can finish it.
 */
import { createInterface } from 'node:readline';
import { completeFlow, directCompleter } from '../actions/complete-flow.js';
import { unknownConnection } from '../actions/get-token.js';
import { requestReauth } from '../actions/request-reauth.js';
import type { Channel } from '../channels/types.js';
import { formatDuration } from '../core/duration.js';
import { ProviderError, TransientError, UsageError, type DiagnosedCause } from '../core/errors.js';
import type { WardenEvent } from '../core/types.js';
import type { CompletedFlow } from '../reauth/flows.js';
import { createOrchestrator, type ReauthOrchestrator } from '../reauth/orchestrator.js';
import type { FlowRecord } from '../store/types.js';
import { openWarden, partsOf, type Warden } from '../warden.js';
import { runningDaemon } from '../daemon/lease.js';
import { EXIT } from './exit-codes.js';
import { loopbackListener, type Listener } from './loopback-listener.js';
import { jsonLine, wardenOptions, type Io } from './output.js';

export interface ConnectOptions {
  config?: string;
  conn: string;
  via?: string;
  flow?: string;
  wait: boolean;
  json?: boolean;
  /** Read pasted input from here (default process.stdin). */
  input?: NodeJS.ReadableStream;
}

/** How often the store is looked at for a completion made by another process. */
const WATCH_MS = 400;

type Outcome =
  | {
      type: 'authorized';
      connection: string;
      account: string | null;
      flowId: string;
      via: string;
      /** Something the human must know now (no refresh token came back), from the completion or the row. */
      warning: DiagnosedCause | null;
    }
  | { type: 'expired'; flow: FlowRecord }
  | { type: 'failed'; message: string; code: number };

export async function runConnect(o: ConnectOptions, io: Io): Promise<number> {
  if (o.flow !== undefined && o.flow !== 'device' && o.flow !== 'auth_code')
    throw new UsageError('--flow must be device or auth_code');
  const warden = await openWarden(wardenOptions(o, io));
  let orchestrator: ReauthOrchestrator | null = null;
  let listener: Listener | null = null;
  const deviceResults = new Map<string, CompletedFlow | Error>();
  const deviceWaiters = new Set<() => void>();
  const channelErrors: string[] = [];
  const onEvent = (e: WardenEvent): void => {
    if (e.type === 'channel_error' && o.via !== undefined && e.data?.['channel'] === o.via)
      channelErrors.push(e.message);
  };
  try {
    const parts = partsOf(warden);
    if (!parts.connections.has(o.conn)) throw unknownConnection(parts.connections, o.conn);
    const channels = o.via ? await viaChannel(warden, o.via, o.wait) : new Map<string, Channel>();
    const daemon = await runningDaemon(parts.store, parts.deps.clock.now());
    orchestrator = createOrchestrator(parts, {
      channels,
      onDeviceResult: (f, r) => {
        deviceResults.set(f.id, r);
        for (const w of deviceWaiters) w();
      },
    });
    const kind = o.flow === 'device' ? 'device_code' : o.flow === 'auth_code' ? 'auth_code' : undefined;
    // Arm first: the loopback listener is bound before the flow exists, the chat listener before the link leaves.
    if (o.wait && kind !== 'device_code')
      listener = await loopbackListener(warden, redirectUriOf(warden, o.conn), o.conn);
    warden.events.on('event', onEvent);
    const { flow } = await requestReauth({ asker: orchestrator, channels: warden.config.channels }, o.conn, {
      reason: 'manual',
      fresh: true,
      via: o.via ? [o.via] : [],
      ...(kind ? { flowKind: kind } : {}),
    });
    warden.events.off('event', onEvent);
    if (flow.kind !== 'auth_code' && listener) {
      await listener.close();
      listener = null;
    }
    const ctx: AnnounceContext = {
      callback: listener !== null,
      paste: o.wait && flow.kind === 'auth_code',
      daemon: daemon !== null,
      chat: o.via !== undefined && channels.get(o.via)?.twoWay === true,
    };
    announce(flow, o, io, ctx);
    if (o.via && !flow.askedVia.includes(o.via)) {
      io.err(
        `tokenwarden: could not send the link via ${o.via}: ${channelErrors.join('; ') || 'the channel refused it'}\n` +
          `  The link above stays valid until ${new Date(flow.expiresAt).toISOString()}; open it here, or fix the channel and run connect again.\n`,
      );
      return EXIT.unavailable;
    }
    if (!o.wait) return 0;
    const outcome = await waitForOutcome(warden, flow, listener, o, io, {
      device: (id) => deviceResults.get(id),
      onDevice: deviceWaiters,
    });
    if (outcome.type === 'expired')
      await partsOf(warden).store.finishFlow(
        outcome.flow.id,
        'expired',
        partsOf(warden).deps.clock.now(),
        'link expired unanswered',
      );
    return report(outcome, o, io);
  } finally {
    warden.events.off('event', onEvent);
    await listener?.close();
    await orchestrator?.stop();
    if (o.input === undefined) process.stdin.pause();
    await warden.close();
  }
}

/** The channel named by `--via`, built as the daemon builds it (a Telegram poller only while it holds the bot's lease). */
async function viaChannel(warden: Warden, via: string, wait: boolean): Promise<Map<string, Channel>> {
  if (!warden.config.channels[via])
    throw new UsageError(
      `Unknown channel "${via}" (configured: ${Object.keys(warden.config.channels).join(', ') || 'none'}); add it under channels: or pick one of those`,
    );
  const { buildChannels } = await import('../daemon.js');
  const built = await buildChannels(warden, [via]);
  const ch = built.get(via);
  if (!ch) {
    // buildChannels reports and leaves out a channel it cannot build: say why here.
    const { buildChannel } = await import('../reauth/notify.js');
    await buildChannel(partsOf(warden), via).catch((err: unknown) => {
      throw new UsageError(`Channel "${via}" cannot be used: ${(err as Error).message}`);
    });
    throw new UsageError(`Channel "${via}" cannot be used`);
  }
  // Without waiting nobody would read the chat's answer here: send only (a daemon's listener reads it).
  if (!wait && ch.twoWay) built.set(via, { name: ch.name, type: ch.type, twoWay: false, send: (m) => ch.send(m) });
  return built;
}

function redirectUriOf(warden: Warden, conn: string): string | null {
  const cfg = partsOf(warden).connections.get(conn)?.config;
  const base = warden.config.server.public_url;
  return cfg?.redirect_uri ?? (base ? new URL('/oauth/callback', base).toString() : null);
}

interface AnnounceContext {
  /** This process catches the loopback redirect. */
  callback: boolean;
  /** This process reads a pasted redirect URL on stdin. */
  paste: boolean;
  /** A daemon holds the store (its listeners and callback take answers too). */
  daemon: boolean;
  /** The link went to a two-way channel, where the human can paste the answer. */
  chat: boolean;
}

function announce(flow: FlowRecord, o: ConnectOptions, io: Io, c: AnnounceContext): void {
  if (o.json) {
    io.out(
      jsonLine({
        event: 'flow_started',
        connection: flow.connection,
        flow_id: flow.id,
        kind: flow.kind,
        url: flow.url,
        user_code: flow.userCode,
        expires_at: new Date(flow.expiresAt).toISOString(),
        sent_via: flow.askedVia,
      }),
    );
    return;
  }
  const lines = [`Authorize "${flow.connection}": open this link in any browser`, '', `  ${flow.url}`, ''];
  if (flow.userCode) lines.push(`  and enter the code: ${flow.userCode}`, '');
  if (flow.askedVia.length) lines.push(`The link was also sent via ${flow.askedVia.join(', ')}.`);
  if (flow.kind === 'auth_code') {
    if (c.callback) lines.push('This terminal catches the redirect automatically if the browser runs on this machine.');
    else if (c.daemon && o.wait)
      lines.push('The running daemon catches the redirect if the browser reaches its callback address.');
    const elsewhere: string[] = [];
    if (c.chat)
      elsewhere.push(
        c.daemon || !o.wait
          ? `send it in ${o.via ?? 'the chat'} (${c.daemon ? 'the running daemon listens there' : 'read once `tokenwarden serve` runs'})`
          : `send it in ${o.via ?? 'the chat'} (this command listens there until it finishes)`,
      );
    if (c.paste) elsewhere.push('paste it here and press Enter');
    elsewhere.push("run `tokenwarden complete '<url>'` anywhere");
    lines.push(
      'When the browser lands on a page that does not load, copy its full address (the URL with ?code=…) and',
      `${elsewhere.join(', or ')}.`,
    );
  }
  lines.push(`The link expires in ${formatDuration(flow.expiresAt - io.now())}.`, '');
  io.err(lines.join('\n') + '\n');
  if (process.stderr.isTTY) void printQr(flow.url);
}

async function printQr(url: string): Promise<void> {
  const qr = await (await import('./terminal-qr.js')).terminalQr(url);
  if (qr) process.stderr.write(qr + '\n');
}

function report(outcome: Outcome, o: ConnectOptions, io: Io): number {
  switch (outcome.type) {
    case 'authorized':
      io.out(
        o.json
          ? jsonLine({
              event: 'authorized',
              connection: outcome.connection,
              account: outcome.account,
              flow_id: outcome.flowId,
              via: outcome.via,
              ...(outcome.warning ? { warning: outcome.warning } : {}),
            })
          : `\nAuthorized "${outcome.connection}"${outcome.account ? ` as ${outcome.account}` : ''} (${outcome.via}). Tokens stored; \`tokenwarden token ${outcome.connection}\` works now.\n`,
      );
      // As `complete` says it: this grant dies with its access token.
      if (outcome.warning) io.err(`Warning: ${outcome.warning.summary} Fix: ${outcome.warning.fix}\n`);
      return EXIT.ok;
    case 'expired': {
      const f = outcome.flow;
      const msg = `The link expired at ${new Date(f.expiresAt).toISOString()} without an answer; nothing changed. Run \`tokenwarden connect ${f.connection}\` for a fresh one.`;
      if (o.json) io.out(jsonLine({ event: 'expired', connection: f.connection, flow_id: f.id }));
      io.err(`tokenwarden: ${msg}\n`);
      return EXIT.linkExpired;
    }
    case 'failed':
      if (o.json) io.out(jsonLine({ event: 'failed', message: outcome.message }));
      io.err(`tokenwarden: ${outcome.message}\n`);
      return outcome.code;
  }
}

/** How the device flow ended in this process (connect polls it itself). */
interface DeviceResults {
  device: (flowId: string) => CompletedFlow | Error | undefined;
  onDevice: Set<() => void>;
}

/** The flow being waited for: replaced when an expired code gets a fresh link. */
interface Waiting {
  current: FlowRecord;
}

/**
 * Wait for the first of: an answer this process takes (loopback, stdin paste, device approval,
 * a chat paste handled here), a completion recorded in the store by any process, the link
 * expiring. A flow replaced by a fresh link (an expired code answered in chat) is followed.
 */
async function waitForOutcome(
  warden: Warden,
  first: FlowRecord,
  listener: Listener | null,
  o: ConnectOptions,
  io: Io,
  device: DeviceResults,
): Promise<Outcome> {
  const ac = new AbortController();
  const w: Waiting = { current: first };
  const contenders: Array<Promise<Outcome>> = [];
  // Taken here: loopback, stdin.
  if (listener) contenders.push(listener.result.then((d) => authorized(d, 'loopback callback')));
  if (first.kind === 'auth_code')
    contenders.push(readPastes(warden, o.input ?? process.stdin, ac.signal, io).then((d) => authorized(d, 'paste')));
  contenders.push(completedHere(warden, first, w, ac.signal));
  contenders.push(deviceEnded(device, w, ac.signal));
  contenders.push(watchStore(warden, w, o, io, ac.signal));
  for (const c of contenders) c.catch(() => undefined);
  try {
    return await Promise.race(contenders);
  } finally {
    ac.abort(new Error('done'));
  }
}

function authorized(d: CompletedFlow, via: string): Outcome {
  return {
    type: 'authorized',
    connection: d.connection,
    account: d.account,
    flowId: d.flowId,
    via,
    warning: d.warning ?? null,
  };
}

/** Completed in this process by anything else (device poll, chat listener). */
function completedHere(warden: Warden, first: FlowRecord, w: Waiting, signal: AbortSignal): Promise<Outcome> {
  const store = partsOf(warden).store;
  return new Promise<Outcome>((resolve) => {
    const onEvent = (e: WardenEvent): void => {
      if (e.type !== 'reauth_completed' || e.connection !== first.connection) return;
      void store.getConnection(first.connection).then((row) =>
        resolve({
          type: 'authorized',
          connection: first.connection,
          account: row?.account ?? null,
          flowId: typeof e.data?.['flowId'] === 'string' ? e.data['flowId'] : w.current.id,
          via: typeof e.data?.['via'] === 'string' ? e.data['via'] : 'another path',
          // Right after a completion, a cause on the row is its warning.
          warning: row?.cause ?? null,
        }),
      );
    };
    warden.events.on('event', onEvent);
    signal.addEventListener('abort', () => warden.events.off('event', onEvent), { once: true });
  });
}

/** A device flow that ended without approval (denied, expired at the provider, provider error). */
function deviceEnded(device: DeviceResults, w: Waiting, signal: AbortSignal): Promise<Outcome> {
  return new Promise<Outcome>((resolve) => {
    const check = (): void => {
      const r = device.device(w.current.id);
      if (!(r instanceof Error)) return;
      if (r instanceof ProviderError && r.error === 'expired_token') resolve({ type: 'expired', flow: w.current });
      else if (r instanceof ProviderError && r.error === 'access_denied')
        resolve({
          type: 'failed',
          message: `The authorization was denied on the provider's page; nothing changed. Run \`tokenwarden connect ${w.current.connection}\` to try again.`,
          code: EXIT.reauth,
        });
      else if (!signal.aborted)
        resolve({
          type: 'failed',
          message: `The device flow ended without approval: ${r.message}`,
          code: r instanceof TransientError ? EXIT.unavailable : EXIT.reauth,
        });
    };
    device.onDevice.add(check);
    signal.addEventListener('abort', () => device.onDevice.delete(check), { once: true });
    check();
  });
}

/** Anything any process recorded in the store; and the link's expiry. */
async function watchStore(
  warden: Warden,
  w: Waiting,
  o: ConnectOptions,
  io: Io,
  signal: AbortSignal,
): Promise<Outcome> {
  const { store, deps } = partsOf(warden);
  const clock = deps.clock;
  for (;;) {
    const left = w.current.expiresAt - clock.now();
    await clock.sleep(Math.max(0, Math.min(WATCH_MS, left)), signal);
    const f = await store.getFlow(w.current.id);
    if (!f) return { type: 'failed', message: 'The flow disappeared from the store.', code: EXIT.unexpected };
    if (f.status === 'completed') {
      const row = await store.getConnection(f.connection);
      return {
        type: 'authorized',
        connection: f.connection,
        account: row?.account ?? null,
        flowId: f.id,
        via: f.outcome?.replace(/^completed via /, '') ?? 'another process',
        warning: row?.cause ?? null,
      };
    }
    if (f.status === 'open') {
      if (f.expiresAt > clock.now()) continue;
      return { type: 'expired', flow: f };
    }
    // Closed without completing: replaced by a fresh link (follow it), or given up.
    const next = (await store.listOpenFlows(f.connection))[0];
    if (next && next.id !== f.id) {
      w.current = next;
      announce(next, o, io, {
        callback: false,
        paste: o.wait && next.kind === 'auth_code',
        daemon: false,
        chat: false,
      });
      continue;
    }
    if (f.status === 'expired') return { type: 'expired', flow: f };
    return {
      type: 'failed',
      message: `The link was closed without an authorization (${f.outcome ?? f.status}); run \`tokenwarden connect ${f.connection}\` for a fresh one.`,
      code: EXIT.reauth,
    };
  }
}

/**
 * Each pasted line is tried; a bad paste is explained and the next line awaited. Input that
 * ends (no terminal, stdin closed) just stops this path: the others still finish the flow.
 */
function readPastes(warden: Warden, input: NodeJS.ReadableStream, signal: AbortSignal, io: Io): Promise<CompletedFlow> {
  return new Promise((resolve) => {
    const rl = createInterface({ input, terminal: false });
    signal.addEventListener('abort', () => rl.close(), { once: true });
    let busy = Promise.resolve();
    rl.on('line', (line) => {
      if (!line.trim()) return;
      busy = busy.then(async () => {
        try {
          resolve(await completeFlow(directCompleter(partsOf(warden).flows), line, { via: 'paste' }));
          rl.close();
        } catch (err) {
          io.err(`${(err as Error).message}\n`);
        }
      });
    });
  });
}
