/**
 * `tokenwarden connect <conn>`: opens a flow (device code where allowed, else authorization code),
 * prints the link, a terminal QR code and a countdown, and waits for whichever answer comes first:
 * the device approval, a loopback callback (redirect URI `http://127.0.0.1:PORT/...`), or the
 * redirect URL pasted on stdin. `--no-wait` persists the flow and exits so `complete` can finish it.
 */
import { createServer, type Server } from 'node:http';
import { createInterface } from 'node:readline';
import { UsageError } from '../core/errors.js';
import { formatDuration } from '../core/duration.js';
import type { CompletedFlow } from '../reauth/flows.js';
import type { FlowRecord } from '../store/types.js';
import { openWarden, type Warden } from '../warden.js';
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

export async function runConnect(o: ConnectOptions, io: Io): Promise<number> {
  if (o.flow !== undefined && o.flow !== 'device' && o.flow !== 'auth_code')
    throw new UsageError('--flow must be device or auth_code');
  const warden = await openWarden(wardenOptions(o, io));
  try {
    const kind = o.flow === 'device' ? 'device_code' : o.flow === 'auth_code' ? 'auth_code' : undefined;
    // Arm first: the flow is persisted (and, below, the callback listener bound) before the link is shown.
    const flow = await warden.flows.open(o.conn, { reason: 'manual', fresh: true, ...(kind ? { kind } : {}) });
    const listener = o.wait && flow.kind === 'auth_code' ? await loopbackListener(warden, flow) : null;
    if (o.via) {
      const notify = (await import('../reauth/notify.js')).notifyFlow;
      await notify(warden, flow, [o.via]);
    }
    announce(flow, o, io, listener !== null);
    if (!o.wait) return 0;
    const done = await waitForAnswer(warden, flow, listener, o, io);
    io.out(
      o.json
        ? jsonLine({ event: 'authorized', connection: done.connection, account: done.account, flow_id: done.flowId })
        : `\nAuthorized "${done.connection}"${done.account ? ` as ${done.account}` : ''}. Tokens stored; \`tokenwarden token ${done.connection}\` works now.\n`,
    );
    return 0;
  } finally {
    await warden.close();
  }
}

function announce(flow: FlowRecord, o: ConnectOptions, io: Io, callback: boolean): void {
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
      }),
    );
    return;
  }
  const lines = [`Authorize "${flow.connection}": open this link in any browser`, '', `  ${flow.url}`, ''];
  if (flow.userCode) lines.push(`  and enter the code: ${flow.userCode}`, '');
  if (flow.kind === 'auth_code')
    lines.push(
      callback
        ? 'This terminal catches the redirect automatically if the browser runs on this machine. Otherwise paste the'
        : 'When the browser lands on a page that does not load, copy its full address and',
      callback
        ? 'address the browser ends on (the URL with ?code=…) here and press Enter.'
        : 'paste it here (or run `tokenwarden complete <url>` anywhere).',
    );
  lines.push(`The link expires in ${formatDuration(flow.expiresAt - io.now())}.`, '');
  io.err(lines.join('\n') + '\n');
  if (process.stderr.isTTY) void printQr(flow.url);
}

async function printQr(url: string): Promise<void> {
  const qr = (await import('qrcode-terminal')).default;
  qr.generate(url, { small: true }, (s: string) => process.stderr.write(s + '\n'));
}

interface Listener {
  result: Promise<CompletedFlow>;
  close(): Promise<void>;
}

/** Bind the loopback redirect URI (RFC 8252 §7.3) so the browser's redirect completes the flow. */
async function loopbackListener(warden: Warden, flow: FlowRecord): Promise<Listener | null> {
  if (!flow.redirectUri) return null;
  const u = new URL(flow.redirectUri);
  if (u.protocol !== 'http:' || !['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname) || !u.port) return null;
  let resolve!: (v: CompletedFlow) => void;
  let reject!: (e: unknown) => void;
  const result = new Promise<CompletedFlow>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  result.catch(() => undefined);
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', flow.redirectUri ?? undefined);
    if (url.pathname !== u.pathname || (!url.searchParams.has('code') && !url.searchParams.has('error'))) {
      res.writeHead(404).end();
      return;
    }
    // Any web page can send the browser here: only an answer carrying this flow's state is
    // tried, so a forged one cannot end the wait.
    if (url.searchParams.get('state') !== flow.state) {
      res
        .writeHead(400, { 'content-type': 'text/plain; charset=utf-8' })
        .end('Not accepted: this answer does not belong to the authorization being waited for.');
      return;
    }
    warden.flows.completeFromInput(url.toString(), { via: 'loopback callback' }).then(
      (done) => {
        res
          .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
          .end('<!doctype html><title>tokenwarden</title><p>Authorized. You can close this tab.</p>');
        resolve(done);
      },
      (err: unknown) => {
        res
          .writeHead(400, { 'content-type': 'text/plain; charset=utf-8' })
          .end(`Not authorized: ${(err as Error).message}`);
        reject(err);
      },
    );
  });
  const ok = await new Promise<boolean>((res) => {
    server.once('error', () => res(false));
    server.listen(Number(u.port), u.hostname === 'localhost' ? '127.0.0.1' : u.hostname.replace(/[[\]]/g, ''), () =>
      res(true),
    );
  });
  if (!ok) return null; // port busy (e.g. the daemon owns it): paste still works
  return { result, close: () => new Promise((r) => server.close(() => r())) };
}

async function waitForAnswer(
  warden: Warden,
  flow: FlowRecord,
  listener: Listener | null,
  o: ConnectOptions,
  io: Io,
): Promise<CompletedFlow> {
  const ac = new AbortController();
  const contenders: Promise<CompletedFlow>[] = [];
  if (flow.kind === 'device_code') contenders.push(warden.flows.completeDevice(flow.id, { signal: ac.signal }));
  else {
    if (listener) contenders.push(listener.result);
    contenders.push(readPastes(warden, o.input ?? process.stdin, ac.signal, io));
  }
  try {
    return await Promise.race(contenders);
  } finally {
    ac.abort(new Error('done'));
    await listener?.close();
    if (o.input === undefined) process.stdin.pause();
  }
}

/** Each pasted line is tried; a bad paste is explained and the next line awaited. */
function readPastes(warden: Warden, input: NodeJS.ReadableStream, signal: AbortSignal, io: Io): Promise<CompletedFlow> {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input, terminal: false });
    signal.addEventListener('abort', () => rl.close(), { once: true });
    let busy = Promise.resolve();
    rl.on('line', (line) => {
      if (!line.trim()) return;
      busy = busy.then(async () => {
        try {
          resolve(await warden.flows.completeFromInput(line, { via: 'paste' }));
          rl.close();
        } catch (err) {
          io.err(`${(err as Error).message}\n`);
        }
      });
    });
    rl.on('close', () => {
      void busy.then(() => reject(new UsageError('input closed before a redirect URL was pasted')));
    });
  });
}
