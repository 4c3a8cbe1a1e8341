/**
 * The daemon's scheduler works from a due-time heap: on a FakeClock, with many connections on a
 * real SQLite store and a real rotating token endpoint, every connection is refreshed ahead of
 * its expiry, a wake-up re-reads only the connections it worked on, and the store is read in
 * full once (reconciliation compares versions). Scale figures: bench/scale.ts --driver scheduler.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/core/clock.js';
import { createOrchestrator, type ReauthOrchestrator } from '../../src/reauth/orchestrator.js';
import { createScheduler, type Scheduler } from '../../src/reauth/scheduler.js';
import { openWarden, type Warden, partsOf } from '../../src/warden.js';
import { makeWorkspace, type Workspace } from '../helpers/workspace.js';
import { accessTokenExpiry, startFastTokenEndpoint, type FastTokenEndpoint } from '../peers/fast-token-endpoint.js';

const N = 200;
const START = Date.UTC(2026, 0, 5, 9);
/** Connection i's token expires at START + EXPIRY(i): spread over 400 s … 2,390 s. */
const EXPIRY = (i: number): number => 400_000 + i * 10_000;

let endpoint: FastTokenEndpoint;
let ws: Workspace;
let clock: FakeClock;
let warden: Warden;
let orch: ReauthOrchestrator;
let scheduler: Scheduler;
const name = (i: number): string => `c${String(i).padStart(3, '0')}`;

beforeAll(async () => {
  endpoint = await startFastTokenEndpoint({ accessTtlSeconds: 3600 });
  clock = new FakeClock(START);
  const conn = {
    provider: 'oauth2',
    client_id: 'c',
    client_secret: 's',
    auth_url: endpoint.authUrl,
    token_url: endpoint.tokenUrl,
    scopes: ['api'],
  };
  ws = makeWorkspace({});
  ws.writeConfig({
    connections: Object.fromEntries(Array.from({ length: N }, (_, i) => [name(i), { ...conn, scopes: ['api'] }])),
  });
  const simFetch: typeof fetch = (url, init) => {
    const headers = new Headers(init?.headers);
    headers.set('x-sim-now', String(clock.now()));
    return fetch(url, { ...init, headers });
  };
  warden = await openWarden({ configPath: ws.configPath, clock, fetch: simFetch });
  for (let i = 0; i < N; i++)
    await partsOf(warden).keeper.storeGrant(name(i), {
      accessToken: `at.${name(i)}.0.${START + EXPIRY(i)}`,
      tokenType: 'Bearer',
      refreshToken: `rt.${name(i)}.0`,
      expiresAt: START + EXPIRY(i),
    });
  // storeGrant stamps lastRefreshAt = now, so each lifetime is EXPIRY(i) and the margin 25 %/60 s/10 %.
  orch = createOrchestrator(partsOf(warden), { channels: new Map(), clock });
  scheduler = createScheduler(partsOf(warden), orch, { clock, probeIntervalMs: 0, rescanMs: 30_000 });
  scheduler.start();
  await scheduler.settled();
});

afterAll(async () => {
  await scheduler?.stop();
  await orch?.stop();
  await warden?.close();
  await endpoint?.stop();
  ws?.cleanup();
});

describe('scheduler on a due-time heap', () => {
  it('reads the store in full once at start, then nothing while nothing is due', async () => {
    expect(scheduler.reads).toMatchObject({ full: 1, rows: 0 });
    await clock.advance(100_000);
    await scheduler.settled();
    expect(scheduler.counts.refresh).toBe(0);
    expect(scheduler.reads.full).toBe(1);
    expect(scheduler.reads.rows).toBe(0);
    // Reconciliation ran (every 30 s) by comparing versions, not by re-reading rows.
    expect(scheduler.reads.versions).toBeGreaterThanOrEqual(3);
  });

  it('a wake-up refreshes and re-reads only the connections that are due', async () => {
    // c000: lifetime 400 s → margin 60 s → due at 340 s. c001: 410 s → due at 350 s.
    await clock.advance(340_000 - (clock.now() - START));
    await scheduler.settled();
    expect(scheduler.counts.refresh).toBe(1);
    expect(scheduler.reads.rows).toBe(1);
    expect(endpoint.generation(name(0))).toBe(1);
    expect(endpoint.generation(name(1))).toBe(0);
  });

  it('every connection is refreshed ahead of its expiry, each exactly once in its first lifetime', async () => {
    const served: Array<{ conn: string; exp: number | null; at: number }> = [];
    while (clock.now() < START + EXPIRY(N - 1)) {
      await clock.advance(1_000);
      await scheduler.settled();
      for (const i of [0, 57, 123, N - 1])
        served.push({ conn: name(i), exp: accessTokenExpiry(await warden.accessToken(name(i))), at: clock.now() });
    }
    for (let i = 0; i < N; i++) expect(endpoint.generation(name(i)), name(i)).toBe(1);
    expect(scheduler.counts.refresh).toBe(N);
    expect(scheduler.reads.rows).toBe(N);
    expect(scheduler.reads.full).toBe(1);
    expect(endpoint.stats()).toMatchObject({ refreshes: N, reused: 0 });
    expect(served.filter((s) => s.exp === null || s.exp <= s.at)).toEqual([]);
    for (const r of await partsOf(warden).store.listConnections())
      expect(r.accessExpiresAt).toBeGreaterThan(clock.now());
  });
});
