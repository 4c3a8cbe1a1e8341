/**
 * `tokenwarden connect` tells the truth and finishes when the flow finishes: the built CLI
 * against a real oidc-provider and the Telegram stand-in.
 *
 * - an unknown channel, or a channel whose send fails → non-zero exit and the reason;
 * - `--via <telegram>` with no daemon: connect listens on the chat itself; the human's paste
 *   there completes it (exit 0, healthy);
 * - with a daemon running, the daemon's listener takes the paste (no second poller, no 409);
 * - completion in another process (`tokenwarden complete`) ends a waiting connect;
 * - a link that expires unanswered → exit 5 and a message saying what to do.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lines, makeWorkspace, type Workspace } from '../helpers/workspace.js';
import { sandboxConnection } from '../helpers/sandbox.js';
import { startOidcProvider, type OidcPeer } from '../peers/oidc-provider.js';
import { DEFAULT_USER_ID, startTelegramPeer, type TelegramPeer } from '../peers/telegram.js';
import { freePort, linkIn, newerThan, spawnServe } from '../daemon/helpers.js';
import type { ChildProcess } from 'node:child_process';
import { openWarden, partsOf } from '../../src/warden.js';

let oidc: OidcPeer;
let tg: TelegramPeer;
let ws: Workspace;
let port: number;
let deadPort: number;

const isRequest = (m: { text: string }): boolean => m.text.includes('Re-authorize sandbox');

function exitOf(child: ChildProcess): Promise<number | null> {
  return child.exitCode !== null ? Promise.resolve(child.exitCode) : new Promise((r) => child.once('close', r));
}

function collect(stream: NodeJS.ReadableStream | null): () => string {
  let s = '';
  stream?.on('data', (d: Buffer) => (s += d.toString()));
  return () => s;
}

async function state(): Promise<string | undefined> {
  const r = await ws.cli(['status', '--json']);
  return (JSON.parse(r.stdout) as { connections: Array<{ state: string }> }).connections[0]?.state;
}

beforeAll(async () => {
  port = await freePort();
  deadPort = await freePort(); // nothing listens here
  const redirectUri = `http://127.0.0.1:${port}/oauth/callback`;
  oidc = await startOidcProvider({ redirectUris: [redirectUri], accessTokenTtl: 60, refreshTokenTtl: 600 });
  tg = await startTelegramPeer();
  ws = makeWorkspace({});
  ws.writeConfig({
    server: { listen: `127.0.0.1:${port}` },
    channels: {
      ops: {
        type: 'telegram',
        bot_token: tg.token,
        chat_id: DEFAULT_USER_ID,
        allow_from: [DEFAULT_USER_ID],
        api_root: tg.apiRoot,
        poll_timeout: '5s',
      },
      broken: {
        type: 'telegram',
        bot_token: tg.token,
        chat_id: DEFAULT_USER_ID,
        allow_from: [DEFAULT_USER_ID],
        api_root: `http://127.0.0.1:${deadPort}`,
      },
    },
    connections: {
      sandbox: sandboxConnection(oidc, redirectUri, { scopes: ['openid', 'offline_access', 'api:read'] }),
    },
  });
});

afterAll(async () => {
  await tg?.stop();
  await oidc?.stop();
  ws?.cleanup();
});

describe('tokenwarden connect', () => {
  it('an unknown channel: exit 2, names the channel and the configured ones, opens no flow', async () => {
    const r = await ws.cli(['connect', 'sandbox', '--via', 'telegarm', '--no-wait']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Unknown channel "telegarm" \(configured: ops, broken\)/);
    const s = JSON.parse((await ws.cli(['status', '--json'])).stdout) as {
      connections: Array<{ open_flow: unknown }>;
    };
    expect(s.connections[0]?.open_flow).toBeNull();
  });

  it('a channel whose send fails: the link is printed, the failure named, exit 4', async () => {
    const r = await ws.cli(['connect', 'sandbox', '--via', 'broken', '--json']);
    expect(r.code).toBe(4);
    const started = JSON.parse(r.stdout.split('\n')[0] ?? '') as { event: string; url: string; sent_via: string[] };
    expect(started.event).toBe('flow_started');
    expect(started.url).toMatch(/^http/);
    expect(started.sent_via).toEqual([]);
    expect(r.stderr).toMatch(/could not send the link via broken: .*network error calling Telegram sendMessage/);
    expect(r.stderr).not.toContain(tg.token.split(':')[1] as string);
  });

  it('--no-wait never offers to read a paste here', async () => {
    const r = await ws.cli(['connect', 'sandbox', '--no-wait']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/tokenwarden complete/);
    expect(r.stderr).not.toMatch(/paste it here/);
  });

  it('--via telegram without a daemon: connect listens on the chat; the paste there completes it', async () => {
    const seen = newerThan(tg.botMessages());
    const conflictsBefore = tg.conflicts;
    const child = ws.spawnCli(['connect', 'sandbox', '--via', 'ops', '--json']);
    const err = collect(child.stderr);
    const out = lines(child.stdout!);
    const started = JSON.parse((await out.next()).value as string) as { event: string; sent_via: string[] };
    expect(started.sent_via).toEqual(['ops']);
    const msg = await tg.waitForBotMessage((m) => seen(m) && isRequest(m), 10_000);
    const finalUrl = await oidc.approveAuthorization(linkIn(msg));
    await tg.userSays(finalUrl);
    const done = JSON.parse((await out.next()).value as string) as { event: string; via: string };
    expect(done).toMatchObject({ event: 'authorized', connection: 'sandbox', via: 'ops' });
    expect(await exitOf(child)).toBe(0);
    expect(err()).not.toMatch(/error/i);
    await tg.waitForBotMessage((m) => seen(m) && m.text.startsWith('Accepted: sandbox is healthy again'), 10_000);
    expect(await state()).toBe('healthy');
    expect(tg.conflicts).toBe(conflictsBefore);
  });

  it('completed by `tokenwarden complete` in another process: the waiting connect exits 0', async () => {
    const child = ws.spawnCli(['connect', 'sandbox', '--json']);
    const out = lines(child.stdout!);
    const started = JSON.parse((await out.next()).value as string) as { url: string };
    const finalUrl = await oidc.approveAuthorization(started.url);
    const done = await ws.cli(['complete', finalUrl]);
    expect(done.code).toBe(0);
    const ended = JSON.parse((await out.next()).value as string) as { event: string; via: string };
    expect(ended).toMatchObject({ event: 'authorized', connection: 'sandbox', via: 'cli' });
    expect(await exitOf(child)).toBe(0);
  });

  it('with a daemon running, its listener takes the chat paste: one poller, connect exits 0', async () => {
    const serve = await spawnServe(ws);
    try {
      await tg.waitForParkedPolls(1, 10_000);
      const seen = newerThan(tg.botMessages());
      const conflictsBefore = tg.conflicts;
      const child = ws.spawnCli(['connect', 'sandbox', '--via', 'ops']);
      const err = collect(child.stderr);
      const out = collect(child.stdout);
      const msg = await tg.waitForBotMessage((m) => seen(m) && isRequest(m), 10_000);
      const finalUrl = await oidc.approveAuthorization(linkIn(msg));
      await tg.userSays(finalUrl);
      expect(await exitOf(child)).toBe(0);
      expect(err()).toMatch(/the running daemon listens there/);
      expect(out()).toMatch(/Authorized "sandbox"/);
      expect(tg.conflicts).toBe(conflictsBefore);
      expect(await state()).toBe('healthy');
      // The bot's poller lease was the daemon's all along (connect only polls while holding it).
      const w = await openWarden({ configPath: ws.configPath });
      try {
        expect((await partsOf(w).store.getLease(`telegram:${tg.token.split(':')[0] ?? ''}`))?.owner).toContain(
          `:${serve.child.pid}:`,
        );
      } finally {
        await w.close();
      }
    } finally {
      await serve.stop();
    }
  });
});

describe('tokenwarden connect: a link nobody answers', () => {
  let short: OidcPeer;
  let ws2: Workspace;
  beforeAll(async () => {
    const redirectUri = `http://127.0.0.1:${await freePort()}/oauth/callback`;
    // Device codes live 2 s here: the link expires without waiting ten minutes.
    short = await startOidcProvider({ redirectUris: [redirectUri], deviceCodeTtl: 2 });
    ws2 = makeWorkspace({ connections: { sandbox: sandboxConnection(short, redirectUri) } });
  });
  afterAll(async () => {
    await short?.stop();
    ws2?.cleanup();
  });

  it('exits 5 at expiry, says so and how to get a fresh link; the flow is closed', async () => {
    const child = ws2.spawnCli(['connect', 'sandbox', '--flow', 'device', '--json']);
    const err = collect(child.stderr);
    const out = lines(child.stdout!);
    const started = JSON.parse((await out.next()).value as string) as { kind: string };
    expect(started.kind).toBe('device_code');
    expect(await exitOf(child)).toBe(5);
    expect(JSON.parse((await out.next()).value as string)).toMatchObject({ event: 'expired', connection: 'sandbox' });
    expect(err()).toMatch(/link expired at .* without an answer.*tokenwarden connect sandbox/);
    const s = JSON.parse((await ws2.cli(['status', '--json'])).stdout) as {
      connections: Array<{ open_flow: unknown; state: string }>;
    };
    expect(s.connections[0]?.open_flow).toBeNull();
    expect(s.connections[0]?.state).toBe('unauthorized');
  });
});
