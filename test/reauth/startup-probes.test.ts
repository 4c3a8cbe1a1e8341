/**
 * The daemon probes every connection soon after it starts — not up to a whole probe interval
 * later — and spreads those first probes (20 per second across all connections) so a restart
 * with many connections never probes them all at once. FakeClock, real SQLite store.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/core/clock.js';
import { createOrchestrator, type ReauthOrchestrator } from '../../src/reauth/orchestrator.js';
import { createScheduler, type Scheduler } from '../../src/reauth/scheduler.js';
import { openWarden, type Warden, partsOf } from '../../src/warden.js';
import { makeWorkspace, type Workspace } from '../helpers/workspace.js';

const N = 200; // first probes spread over 200 / 20 = 10 s
const START = Date.UTC(2026, 0, 5, 9);
const name = (i: number): string => `c${String(i).padStart(3, '0')}`;

let ws: Workspace;
let clock: FakeClock;
let warden: Warden;
let orch: ReauthOrchestrator;
let scheduler: Scheduler;

beforeAll(async () => {
  clock = new FakeClock(START);
  // No probe URL fits these connections: a probe checks the stored token only (no network).
  const conn = {
    provider: 'oauth2',
    client_id: 'c',
    auth_url: 'https://id.example.com/auth',
    token_url: 'https://id.example.com/token',
    scopes: ['api'],
  };
  ws = makeWorkspace({ connections: Object.fromEntries(Array.from({ length: N }, (_, i) => [name(i), conn])) });
  warden = await openWarden({ configPath: ws.configPath, clock });
  for (let i = 0; i < N; i++)
    await partsOf(warden).keeper.storeGrant(name(i), {
      accessToken: `at-${i}`,
      refreshToken: `rt-${i}`,
      tokenType: 'Bearer',
      expiresAt: START + 10 * 3_600_000,
    });
  orch = createOrchestrator(partsOf(warden), { channels: new Map(), clock });
  scheduler = createScheduler(partsOf(warden), orch, { clock, probeIntervalMs: 30 * 60_000, rescanMs: 3_600_000 });
  scheduler.start();
  await scheduler.settled();
});

afterAll(async () => {
  await scheduler?.stop();
  await orch?.stop();
  await warden?.close();
  ws?.cleanup();
});

describe('first probes after start', () => {
  it('are spread: only a fraction in the first second, every connection within the window', async () => {
    await clock.advance(1_000);
    await scheduler.settled();
    const firstSecond = scheduler.counts.probe;
    expect(firstSecond).toBeGreaterThan(0);
    expect(firstSecond).toBeLessThan(N / 3);
    await clock.advance(9_000);
    await scheduler.settled();
    expect(scheduler.counts.probe).toBe(N);
    // Then each waits for its interval.
    await clock.advance(60_000);
    await scheduler.settled();
    expect(scheduler.counts.probe).toBe(N);
  });
});
