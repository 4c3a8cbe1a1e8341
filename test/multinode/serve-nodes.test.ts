/**
 * Issue 6 "Proof", with the real daemon: 4 `tokenwarden serve` processes (the built CLI) share
 * one PostgreSQL store and one Telegram bot, against oidc-provider with refresh-token rotation
 * (reusing a rotated refresh token revokes the grant, so a single race shows up as
 * invalid_grant), and 8 client processes ask the nodes for tokens over HTTP.
 *
 * - The first authorization goes through the chat: the link is asked for on one node, the
 *   paste is captured by whichever node holds the Telegram leader lease.
 * - ≥ 300 refresh cycles: each cycle the access token is made due in the store (time
 *   compression: the daemons run on the real clock), every client asks a different node,
 *   and the provider sees exactly one refresh per cycle and no invalid_grant.
 * - The grant dies, the daemon asks the human in the chat, then the node holding the Telegram
 *   leader lease is killed with SIGKILL: another node takes over when the lease ends (its
 *   getUpdates poll parks at the peer), the human's paste completes the pending flow, and the
 *   clients get tokens again.
 *
 * No sleeps: every wait is on a peer event (parked polls, bot messages), a store row, an HTTP
 * answer or a process exit.
 */
import { spawn, fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';

import { generateKey } from '../../src/store/key.js';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/types.js';
import { linkIn, newerThan } from '../daemon/helpers.js';
import { CLI, lines } from '../helpers/workspace.js';
import { startOidcProvider, type OidcPeer } from '../peers/oidc-provider.js';
import { startPostgres, type PostgresPeer } from '../peers/postgres.js';
import { DEFAULT_USER_ID, startTelegramPeer, type BotMessage, type TelegramPeer } from '../peers/telegram.js';

const NODES = 4;
const CLIENTS = 8;
const CYCLES = 300;
const CONN = 'sandbox';
/** Paste capture only: nothing listens on this redirect URI. */
const REDIRECT = 'http://127.0.0.1:1/oauth/callback';
/** `poll_timeout` of the bot: the leader renews its lease once per poll. */
const POLL_TIMEOUT_MS = 2_000;
/** The daemon's Telegram leader lease: poll timeout + 30 s (src/daemon.ts). */
const LEASE_TTL_MS = POLL_TIMEOUT_MS + 30_000;
const KEY_ENV = 'TW_SERVE_NODES_KEY';

interface ServeNode {
  name: string;
  child: ChildProcess;
  url: string;
  exited: Promise<void>;
  stderr(): string;
}

interface ClientReply {
  ok: boolean;
  token?: string;
  attempts?: number;
  status?: number;
  error?: string;
}

interface ClientProcess {
  child: ChildProcess;
  ask(req: { url: string; not: string | null }): Promise<ClientReply>;
}

const dir = mkdtempSync(join(tmpdir(), 'tw-serve-nodes-'));
const key = generateKey();
const apiKey = randomBytes(24).toString('base64url');
const children: ChildProcess[] = [];
let pg: PostgresPeer | undefined;
let oidc: OidcPeer | undefined;
let tg: TelegramPeer | undefined;
let store: Store | undefined;
let configPath: string;
let nodes: ServeNode[] = [];
let clients: ClientProcess[] = [];
/** The token every client saw last. */
let current: string | null = null;

const alive = (c: ChildProcess): boolean => c.exitCode === null && c.signalCode === null;

/** `tokenwarden serve` (built CLI) on an ephemeral port; resolves once it prints its URL. */
async function spawnServe(name: string): Promise<ServeNode> {
  const child = spawn(process.execPath, [CLI, '--config', configPath, 'serve', '--listen', '127.0.0.1:0'], {
    cwd: dir,
    env: { ...process.env, [KEY_ENV]: key.toString('base64'), TOKENWARDEN_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-20_000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const out = lines(child.stdout as NodeJS.ReadableStream);
  const first = await Promise.race([
    out.next(),
    exited.then(() => {
      throw new Error(`${name} exited before serving: ${err}`);
    }),
  ]);
  child.stdout?.resume();
  const url = /serving on (\S+)/.exec(first.value ?? '')?.[1];
  if (!url) throw new Error(`${name} printed no URL: ${first.value ?? ''} ${err}`);
  return { name, child, url, exited, stderr: () => err };
}

async function startClient(): Promise<ClientProcess> {
  const child = fork(join(import.meta.dirname, 'serve-client.ts'), [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`client exited (${code}) before it was ready`)));
    child.once('message', () => resolve());
  });
  child.removeAllListeners('exit');
  const pending = new Map<number, (r: ClientReply) => void>();
  let next = 0;
  child.on('message', (m: ClientReply & { id?: number }) => {
    if (m.id === undefined) return;
    pending.get(m.id)?.(m);
    pending.delete(m.id);
  });
  child.on('exit', () => {
    for (const resolve of pending.values()) resolve({ ok: false, error: 'client exited' });
    pending.clear();
  });
  return {
    child,
    ask: (req) =>
      new Promise((resolve) => {
        const id = next++;
        pending.set(id, resolve);
        child.send({ id, apiKey, conn: CONN, ...req });
      }),
  };
}

const need = <T>(v: T | undefined, what: string): T => {
  if (v === undefined) throw new Error(`${what} not started`);
  return v;
};

const invalidGrants = (): number =>
  need(oidc, 'oidc')
    .tokenErrors()
    .filter((e) => e.grantType === 'refresh_token' && e.error === 'invalid_grant').length;

/** Make the stored access token due now (what the real clock does after an hour). */
async function expireStoredToken(): Promise<void> {
  const now = Date.now();
  await need(store, 'store').updateConnection(CONN, { accessExpiresAt: now - 1_000 }, { now });
}

/**
 * One refresh cycle: the stored token is made due, then every client asks a node (client j
 * asks node (i + j) mod n, so each node serves two clients and the pairs rotate) until it
 * gets a token other than the last one. Returns the provider's refresh count for the cycle.
 */
async function cycle(i: number, failures: string[]): Promise<number> {
  const o = need(oidc, 'oidc');
  const before = o.tokenRequests('refresh_token');
  await expireStoredToken();
  const answers = await Promise.all(
    clients.map((c, j) => c.ask({ url: (nodes[(i + j) % nodes.length] as ServeNode).url, not: current })),
  );
  const bad = answers.filter((a) => !a.ok);
  if (bad.length) failures.push(`cycle ${i}: ${JSON.stringify(bad)}`);
  const tokens = new Set(answers.map((a) => a.token));
  if (tokens.size !== 1) failures.push(`cycle ${i}: ${tokens.size} different tokens`);
  current = answers[0]?.token ?? null;
  return o.tokenRequests('refresh_token') - before;
}

const isRequest = (m: BotMessage): boolean => m.text.includes(`Re-authorize ${CONN}`);
const isAccepted = (m: BotMessage): boolean => m.text.startsWith(`Accepted: ${CONN} is healthy again`);

beforeAll(async () => {
  [pg, oidc, tg] = await Promise.all([
    startPostgres(),
    startOidcProvider({ redirectUris: [REDIRECT], accessTokenTtl: 3600, refreshTokenTtl: 86_400 }),
    startTelegramPeer(),
  ]);
  const storeUrl = await pg.createDatabase('servenodes');
  configPath = join(dir, 'tokenwarden.yaml');
  writeFileSync(
    configPath,
    stringify({
      store: storeUrl,
      key: `env:${KEY_ENV}`,
      server: { api_key: apiKey },
      channels: {
        ops: {
          type: 'telegram',
          bot_token: tg.token,
          chat_id: DEFAULT_USER_ID,
          allow_from: [DEFAULT_USER_ID],
          api_root: tg.apiRoot,
          poll_timeout: `${POLL_TIMEOUT_MS / 1000}s`,
        },
      },
      connections: {
        [CONN]: {
          provider: 'oidc',
          issuer: oidc.issuer,
          client_id: oidc.clientId,
          client_secret: oidc.clientSecret,
          redirect_uri: REDIRECT,
          scopes: ['openid', 'offline_access'],
          flow: 'auth_code',
          notify: ['ops'],
        },
      },
    }),
  );
  // The first node creates the schema; the clients start meanwhile.
  const starting = Promise.all(Array.from({ length: CLIENTS }, () => startClient()));
  nodes.push(await spawnServe('node-0'));
  nodes.push(...(await Promise.all(Array.from({ length: NODES - 1 }, (_, i) => spawnServe(`node-${i + 1}`)))));
  clients = await starting;
  store = await openStore(storeUrl, { key, keySpec: `env:${KEY_ENV}`, baseDir: dir });
}, 90_000);

afterAll(async () => {
  await Promise.all(
    children.filter(alive).map(
      (c) =>
        new Promise<void>((resolve) => {
          c.once('exit', () => resolve());
          c.kill('SIGKILL');
        }),
    ),
  );
  await store?.close();
  await Promise.all([tg?.stop(), oidc?.stop()]);
  await pg?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe(`${NODES} serve nodes on one PostgreSQL store and one Telegram bot`, () => {
  it('exactly one node long-polls the bot; a link asked for on one node is answered in the chat', async () => {
    const peer = need(tg, 'telegram');
    const o = need(oidc, 'oidc');
    await peer.waitForParkedPolls(1, 20_000);
    const seen = newerThan(peer.botMessages());
    const asked = await fetch(`${(nodes[1] as ServeNode).url}/api/v1/connections/${CONN}/reauth`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(asked.status).toBe(202);
    const msg = await peer.waitForBotMessage((m) => seen(m) && isRequest(m), 10_000);
    await peer.userSays(await o.approveAuthorization(linkIn(msg)));
    await peer.waitForBotMessage((m) => seen(m) && isAccepted(m), 10_000);
    expect(peer.parkedPolls).toBe(1);
    expect(peer.conflicts).toBe(0);
  }, 30_000);

  it(`${CYCLES} refresh cycles, ${CLIENTS} clients across ${NODES} nodes: one refresh per cycle, zero invalid_grant`, async () => {
    const o = need(oidc, 'oidc');
    const invalidBefore = invalidGrants();
    const refreshesBefore = o.tokenRequests('refresh_token');
    const failures: string[] = [];
    const perCycle: number[] = [];
    for (let i = 0; i < CYCLES && failures.length === 0; i++) perCycle.push(await cycle(i, failures));
    expect(failures).toEqual([]);
    expect(perCycle.filter((n) => n !== 1)).toEqual([]);
    expect(o.tokenRequests('refresh_token') - refreshesBefore).toBe(CYCLES);
    expect(invalidGrants() - invalidBefore).toBe(0);
    // The last token is live at the provider: the store holds the current rotation.
    expect((await o.introspect(current as string)).active).toBe(true);
    expect(need(tg, 'telegram').conflicts).toBe(0);
  }, 120_000);

  it('the Telegram leader is killed (kill -9) with a flow pending: another node takes over at the lease end and the paste completes it', async () => {
    const peer = need(tg, 'telegram');
    const o = need(oidc, 'oidc');
    const s = need(store, 'store');
    const leaseKey = `telegram:${peer.token.split(':')[0] ?? ''}`;

    // The grant dies at the provider; the next refresh finds out and the human is asked in the chat.
    const seen = newerThan(peer.botMessages());
    await o.revokeGrantsFor();
    await expireStoredToken();
    const dead = await need(clients[0], 'client').ask({ url: (nodes[0] as ServeNode).url, not: current });
    expect(dead).toMatchObject({ ok: false, status: 409 });
    const ask = await peer.waitForBotMessage((m) => seen(m) && isRequest(m), 20_000);
    const [pending] = await s.listOpenFlows(CONN);
    expect(pending?.url).toBe(linkIn(ask)); // the link in the chat is the pending flow's

    // Kill -9 the lease holder (its owner id is host:pid:random).
    const lease = await s.getLease(leaseKey);
    const leader = nodes.find((n) => lease?.owner.startsWith(`${hostname()}:${n.child.pid}:`));
    if (!leader) throw new Error(`no node holds ${leaseKey}: ${JSON.stringify(lease)}`);
    const killedAt = Date.now();
    leader.child.kill('SIGKILL');
    await leader.exited;
    nodes = nodes.filter((n) => n !== leader);
    await peer.waitForNoParkedPolls(5_000); // its long poll died with it
    const orphaned = await s.getLease(leaseKey);
    expect(orphaned?.owner).toBe(lease?.owner);
    const until = orphaned?.until ?? 0;

    // A survivor parks a getUpdates poll once the dead node's lease has ended, not before.
    await peer.waitForParkedPolls(1, LEASE_TTL_MS + 10_000);
    const takeoverAt = Date.now();
    expect(takeoverAt).toBeGreaterThanOrEqual(until);
    expect(takeoverAt - until).toBeLessThanOrEqual(POLL_TIMEOUT_MS + 2_000);
    expect(takeoverAt - killedAt).toBeLessThanOrEqual(LEASE_TTL_MS + POLL_TIMEOUT_MS + 2_000);
    const successor = await s.getLease(leaseKey);
    expect(nodes.some((n) => successor?.owner.startsWith(`${hostname()}:${n.child.pid}:`))).toBe(true);
    expect(peer.conflicts).toBe(0);

    // The pending flow, opened and sent before the kill, completes from the chat.
    const said = await peer.userSays(await o.approveAuthorization(linkIn(ask)));
    await peer.waitForBotMessage((m) => seen(m) && isAccepted(m), 10_000);
    expect(peer.deletedMessages()).toContain(said.message_id);
    expect((await s.getFlow(pending?.id ?? ''))?.status).toBe('completed');

    // Tokens flow again on every surviving node, and the new grant refreshes once per cycle.
    const invalidBefore = invalidGrants();
    const failures: string[] = [];
    const healed = await Promise.all(
      clients.map((c, j) => c.ask({ url: (nodes[j % nodes.length] as ServeNode).url, not: current })),
    );
    expect(healed.filter((a) => !a.ok)).toEqual([]);
    expect(new Set(healed.map((a) => a.token)).size).toBe(1);
    current = healed[0]?.token ?? null;
    for (let i = 0; i < 3; i++) expect(await cycle(i, failures)).toBe(1);
    expect(failures).toEqual([]);
    expect(invalidGrants() - invalidBefore).toBe(0);
  }, 90_000);
});
