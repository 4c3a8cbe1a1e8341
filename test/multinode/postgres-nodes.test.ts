/**
 * Several node processes sharing one PostgreSQL store,
 * against a real oidc-provider that rotates refresh tokens (reusing a rotated one revokes the
 * grant, so a single race shows up as invalid_grant):
 *
 * - a paste on node B completes a flow node A started; a replay on node C is refused;
 * - 4 nodes × 300 refresh cycles: exactly one refresh per expiry, zero invalid_grant, with
 *   PostgreSQL restarted in the middle of the run and nothing lost;
 * - PostgreSQL down: nodes keep serving unexpired tokens from memory;
 * - the leader-lease holder killed with SIGKILL: another node takes over exactly when the lease
 *   ends (explicit `now` values), and a flow the dead node started still completes elsewhere.
 *
 * Tests run in order and share the nodes: the first one authorizes the connection.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';

import { generateKey } from '../../src/store/key.js';
import { openStore } from '../../src/store/open-store.js';
import { startOidcProvider, type OidcPeer } from '../peers/oidc-provider.js';
import { startPostgres, type PostgresPeer } from '../peers/postgres.js';
import { startNode, type NodeProcess } from './nodes.js';

const REDIRECT = 'http://127.0.0.1:1/oauth/callback';
const HOUR = 3_600_000;
const CYCLES = 300;
const dir = mkdtempSync(join(tmpdir(), 'tw-multinode-'));
const key = generateKey();
let pgPeer: PostgresPeer;
let oidc: OidcPeer;
let storeUrl: string;
let nodes: NodeProcess[] = [];
let t = Date.now();

beforeAll(async () => {
  [pgPeer, oidc] = await Promise.all([
    startPostgres(),
    startOidcProvider({ redirectUris: [REDIRECT], accessTokenTtl: 3600, refreshTokenTtl: 86_400 }),
  ]);
  storeUrl = await pgPeer.createDatabase('multinode');
  process.env['TW_MULTINODE_KEY'] = key.toString('base64');
  const configPath = join(dir, 'tokenwarden.yaml');
  writeFileSync(
    configPath,
    stringify({
      store: storeUrl,
      key: 'env:TW_MULTINODE_KEY',
      connections: {
        sandbox: {
          provider: 'oidc',
          issuer: oidc.issuer,
          client_id: oidc.clientId,
          client_secret: oidc.clientSecret,
          redirect_uri: REDIRECT,
          scopes: ['openid', 'offline_access'],
          flow: 'auth_code',
        },
      },
    }),
  );
  // One node first, so the schema is created once (the others would wait on its lock anyway).
  nodes.push(await startNode(configPath, 'node-a'));
  nodes.push(...(await Promise.all(['node-b', 'node-c', 'node-d'].map((o) => startNode(configPath, o)))));
}, 120_000);

afterAll(async () => {
  await Promise.all(nodes.map((n) => n.exit().catch(() => n.kill9())));
  await Promise.all([pgPeer?.stop(), oidc?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

const invalidGrants = (): number =>
  oidc.tokenErrors().filter((e) => e.grantType === 'refresh_token' && e.error === 'invalid_grant').length;

describe('nodes sharing a PostgreSQL store', () => {
  it('completes a flow node A started from a paste on node B; a replay on node C is refused', async () => {
    const [a, b, c] = nodes as [NodeProcess, NodeProcess, NodeProcess];
    const flow = await a.call<{ id: string; url: string }>({ op: 'open', t, conn: 'sandbox' });
    const pasted = await oidc.approveAuthorization(flow.url);
    const done = await b.call<{ connection: string; flowId: string }>({ op: 'complete', t, input: pasted });
    expect(done).toMatchObject({ connection: 'sandbox', flowId: flow.id });
    const replay = await c.ask({ op: 'complete', t, input: pasted });
    expect(replay.ok).toBe(false);
    // Every node now has the token node B stored.
    const tokens = await Promise.all(nodes.map((n) => n.call<string>({ op: 'token', t, conn: 'sandbox' })));
    expect(new Set(tokens).size).toBe(1);
    const store = await openStore(storeUrl, { key, keySpec: 'env:TW_MULTINODE_KEY', baseDir: dir });
    expect((await store.getFlow(flow.id))?.status).toBe('completed');
    await store.close();
  });

  it(`${CYCLES} expiries across 4 nodes: one refresh each, zero invalid_grant, PostgreSQL restarted mid-run`, async () => {
    const refreshesBefore = oidc.tokenRequests('refresh_token');
    const invalidBefore = invalidGrants();
    const perExpiry: number[] = [];
    const failures: string[] = [];
    let restart: Promise<void> | null = null;
    for (let i = 0; i < CYCLES; i++) {
      t += HOUR; // every node is past the same expiry
      // The restart overlaps the next cycles: leases, refreshes and their writes hit the outage.
      if (i === CYCLES / 2) restart = pgPeer.restart();
      const before = oidc.tokenRequests('refresh_token');
      const answers = await Promise.all(nodes.map((n) => n.ask({ op: 'token', t, conn: 'sandbox' })));
      failures.push(...answers.filter((r) => !r.ok).map((r) => `cycle ${i}: ${r.error}`));
      expect(
        new Set(answers.map((r) => r.value)).size,
        `cycle ${i}: ${JSON.stringify(answers.map((r) => (r.ok ? 'ok' : r.error)))}`,
      ).toBe(1);
      perExpiry.push(oidc.tokenRequests('refresh_token') - before);
    }
    await restart;
    expect(failures).toEqual([]);
    expect(invalidGrants() - invalidBefore).toBe(0);
    expect(perExpiry.every((n) => n === 1)).toBe(true);
    expect(oidc.tokenRequests('refresh_token') - refreshesBefore).toBe(CYCLES);
    // Nothing lost: the refresh token in the store is the live one (one more refresh works).
    t += HOUR;
    await nodes[3]!.call({ op: 'token', t, conn: 'sandbox' });
    expect(invalidGrants() - invalidBefore).toBe(0);
  }, 240_000);

  it('keeps serving unexpired tokens from memory while PostgreSQL is down', async () => {
    // Needs the server process itself (an owned cluster, not TOKENWARDEN_TEST_PG_URL).
    if (!pgPeer.owned) return;
    // The previous refresh's change notifications may still be on their way: a node that caches
    // first and hears of that (older) change afterwards drops its copy. Take every change in, then cache.
    await Promise.all(nodes.map((n) => n.call<string>({ op: 'token', t, conn: 'sandbox' })));
    await Promise.all(nodes.map((n) => n.call({ op: 'settle', t })));
    const cached = await Promise.all(nodes.map((n) => n.call<string>({ op: 'token', t, conn: 'sandbox' })));
    await pgPeer.stopServer();
    try {
      const during = await Promise.all(nodes.map((n) => n.ask({ op: 'token', t: t + 60_000, conn: 'sandbox' })));
      expect(during.map((r) => r.value)).toEqual(cached);
    } finally {
      await pgPeer.startServer();
    }
    t += HOUR;
    const before = oidc.tokenRequests('refresh_token');
    const after = await Promise.all(nodes.map((n) => n.ask({ op: 'token', t, conn: 'sandbox' })));
    expect(after.every((r) => r.ok)).toBe(true);
    expect(oidc.tokenRequests('refresh_token') - before).toBe(1);
  }, 60_000);

  it('hands the leader lease to another node when the holder is killed (kill -9), at the lease end', async () => {
    const TTL = 30_000;
    const KEY = 'telegram:4242';
    const t0 = t;
    const held = await Promise.all(nodes.map((n) => n.call<boolean>({ op: 'lease', t: t0, key: KEY, ttlMs: TTL })));
    expect(held.filter(Boolean)).toHaveLength(1);
    const leader = nodes[held.indexOf(true)] as NodeProcess;
    // The leader opens a flow (as the Telegram listener would), then dies without cleanup.
    const flow = await leader.call<{ id: string; url: string }>({ op: 'open', t: t0, conn: 'sandbox' });
    await leader.kill9();
    nodes = nodes.filter((n) => n !== leader);

    const early = await Promise.all(
      nodes.map((n) => n.call<boolean>({ op: 'lease', t: t0 + TTL - 1, key: KEY, ttlMs: TTL })),
    );
    expect(early.some(Boolean)).toBe(false);
    const onTime = await Promise.all(
      nodes.map((n) => n.call<boolean>({ op: 'lease', t: t0 + TTL, key: KEY, ttlMs: TTL })),
    );
    expect(onTime.filter(Boolean)).toHaveLength(1);
    const successor = nodes[onTime.indexOf(true)] as NodeProcess;
    const store = await openStore(storeUrl, { key, keySpec: 'env:TW_MULTINODE_KEY', baseDir: dir });
    expect((await store.getLease(KEY))?.owner).toBe(successor.owner);

    // The dead node's pending flow completes on the successor.
    const pasted = await oidc.approveAuthorization(flow.url);
    const done = await successor.call<{ flowId: string }>({ op: 'complete', t: t0 + TTL, input: pasted });
    expect(done.flowId).toBe(flow.id);
    expect((await store.getFlow(flow.id))?.status).toBe('completed');
    await store.close();
  }, 60_000);
});
