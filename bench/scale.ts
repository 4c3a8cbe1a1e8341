/**
 * Scale: N connections (default 100,000) on one SQLite node against a fast local
 * token endpoint with refresh-token rotation (test/peers/fast-token-endpoint.ts, in its own
 * process), with a FakeClock compressing hours of token lifetimes into minutes.
 *
 * Measures: every connection refreshed ahead of expiry, expired tokens served (checked from the
 * token itself: the endpoint writes its expiry into it), refresh lag, resident memory,
 * start-up time, CPU per simulated hour, and at the end that every stored refresh token is the
 * newest generation the endpoint honours (no rotation lost).
 *
 *   npx tsx bench/scale.ts --connections 100000 --hours 1.1 --tmp-dir /dev/shm   # 5 fresh runs: median, spread, load
 *   npx tsx bench/scale.ts --connections 20000 --hours 0.5 --versus=--v8-default-heap  # interleaved with V8's heap growth
 *   npx tsx bench/scale.ts --single --connections 10000 --hours 1            # one run, its full JSON
 *   npx tsx bench/scale.ts --single --driver sweep                           # the benchmark's own sweep driver
 *
 * The series (bench/scale-runs.ts) writes bench/results/scale.md for docs/benchmarks.md.
 *
 * Drivers: `scheduler` (default) runs src/reauth/scheduler.ts as the daemon does; `sweep` keeps
 * a min-heap of refresh times and calls the keeper when one is due (a lower bound to compare with). Both use the real Warden, Keeper, SQLite store (synchronous=FULL) and HTTP.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeHeapSnapshot } from 'node:v8';
import { FakeClock } from '../src/core/clock.js';
import { applyDaemonHeapPolicy } from '../src/core/heap-policy.js';
import { silentLogger } from '../src/core/logger.js';
import { shouldRefresh } from '../src/core/refresh-policy.js';
import { createOrchestrator } from '../src/reauth/orchestrator.js';
import { createScheduler } from '../src/reauth/scheduler.js';
import { providerHttpFetch } from '../src/oauth/http-client.js';
import { generateKey } from '../src/store/key.js';
import { connectionPages } from '../src/store/paging.js';
import { openWarden, partsOf } from '../src/warden.js';
import { accessTokenExpiry } from '../test/peers/fast-token-endpoint.js';
import { benchDir, reexecOnPlainNode } from './plain-node.js';
import { DueHeap, forkScaleEndpoint, MemoryMeter, prng, scaleConnectionName, type Due } from './scale-common.js';

// By default a series of fresh runs by the benchmark rules (bench/scale-runs.ts); `--single`: one run.
if (!process.argv.includes('--single')) {
  const { runScaleSeries } = await import('./scale-runs.js');
  await runScaleSeries(process.argv.slice(2));
  process.exit(process.exitCode ?? 0);
}

// The measuring process runs on plain node (no tsx isolate), like the daemon.
if (await reexecOnPlainNode(import.meta.url)) process.exit(process.exitCode ?? 0);

const { values: args } = parseArgs({
  options: {
    connections: { type: 'string', default: '100000' },
    hours: { type: 'string', default: '2' },
    ttl: { type: 'string', default: '3600' },
    tick: { type: 'string', default: '1' },
    concurrency: { type: 'string', default: '32' },
    callers: { type: 'string', default: '100' },
    driver: { type: 'string', default: 'scheduler' },
    /** Scheduler driver: seconds between its reconciliation passes (default 30, as in the daemon). */
    rescan: { type: 'string', default: '30' },
    /** Where the store lives (default the OS temp dir; /dev/shm shows the CPU bound without fsync cost). */
    'tmp-dir': { type: 'string', default: tmpdir() },
    json: { type: 'boolean', default: false },
    /** One run (what the series of bench/scale-runs.ts starts); without it, `--runs` runs (default 5). */
    single: { type: 'boolean', default: false },
    /** Measure under tsx instead of re-running the bundle on plain node. */
    tsx: { type: 'boolean', default: false },
    /** Leave V8's heap growth heuristics as they are instead of applying the daemon's heap policy. */
    'v8-default-heap': { type: 'boolean', default: false },
    /** The daemon's heap policy with another growth percent (TOKENWARDEN_HEAP_GROWTH), e.g. to pair 30 with the default. */
    'heap-growth': { type: 'string' },
    /** Write V8 heap snapshots here: after start-up and halfway through the run (read them with bench/heap-summary.ts). */
    'heap-snapshots': { type: 'string' },
  },
});
const N = Number(args.connections);
const HOURS = Number(args.hours);
const TTL_S = Number(args.ttl);
const TICK_MS = Number(args.tick) * 1000;
const CONCURRENCY = Number(args.concurrency);
const CALLERS = Number(args.callers);
const DRIVER = args.driver as 'sweep' | 'scheduler';
// As `tokenwarden serve` does (src/core/heap-policy.ts), unless asked to measure V8's defaults.
const heapPolicy = args['v8-default-heap']
  ? null
  : applyDaemonHeapPolicy(
      args['heap-growth'] === undefined
        ? process.env
        : { ...process.env, TOKENWARDEN_HEAP_GROWTH: args['heap-growth'] },
    );

/** The connection number in a benchmark connection's name. */
function connIndex(name: string): number {
  return Number(name.slice(1));
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

const dir = mkdtempSync(join(args['tmp-dir'], 'tw-bench-scale-'));
const env = { TW_KEY: generateKey().toString('base64') };
const START = Date.UTC(2026, 0, 5, 9);
const rand = prng(42);

const ep = await forkScaleEndpoint(benchDir(), TTL_S);

try {
  // ---- seed (in a child process, so this process's memory is tokenwarden's alone) ----
  const dbFile = join(dir, 'state.db');
  const seedStarted = performance.now();
  execFileSync(
    process.execPath,
    ['--import', 'tsx', join(benchDir(), 'scale-seed.ts'), dir, String(N), String(TTL_S), String(START)],
    {
      env: { ...process.env, ...env },
      stdio: 'inherit',
    },
  );
  const seedMs = performance.now() - seedStarted;

  // ---- start-up: parse a config of N connections, open the store, first full read ----
  const clock = new FakeClock(START);
  // Provider requests go through tokenwarden's own client, as in the daemon; the header only
  // tells the endpoint the simulated time.
  const simFetch = ((url: string | URL, init?: RequestInit) =>
    providerHttpFetch(url, {
      ...init,
      headers: { ...(init?.headers as Record<string, string>), 'x-sim-now': String(clock.now()) },
    })) as typeof fetch;
  const rssBefore = process.memoryUsage().rss;
  const startupStarted = performance.now();
  const connection = {
    provider: 'oauth2',
    client_id: 'scale-client',
    client_secret: 'scale-secret',
    auth_url: ep.authUrl,
    token_url: ep.tokenUrl,
    scopes: ['api'],
    redirect_uri: 'http://127.0.0.1:1/cb',
  };
  const warden = await openWarden({
    config: {
      store: 'sqlite:state.db',
      key: 'env:TW_KEY',
      connections: (() => {
        const all: Record<string, typeof connection> = {};
        for (let i = 0; i < N; i++) all[scaleConnectionName(i)] = connection;
        return all;
      })(),
    },
    baseDir: dir,
    env,
    clock,
    providerFetch: simFetch,
  });
  const openMs = performance.now() - startupStarted;
  const rssAfterOpen = process.memoryUsage().rss;
  const scanStarted = performance.now();
  // What the daemon's scheduler reads at start: every row's schedule facts, no secret opened.
  // Streamed into the benchmark's own typed arrays (the rows are never all held at once).
  const seededExpiry = new Float64Array(N);
  const seededRefresh = new Float64Array(N);
  const store = partsOf(warden).store;
  await (store.forEachConnectionFacts as NonNullable<typeof store.forEachConnectionFacts>)((r) => {
    const i = connIndex(r.name);
    seededExpiry[i] = r.accessExpiresAt as number;
    seededRefresh[i] = r.lastRefreshAt ?? NaN;
  });
  /** Each connection's seeded access expiry and last refresh (NaN: none), by connection number. */
  const seeded = function* (): Generator<{ i: number; accessExpiresAt: number; lastRefreshAt: number | null }> {
    for (let i = 0; i < N; i++)
      yield {
        i,
        accessExpiresAt: seededExpiry[i] as number,
        lastRefreshAt: Number.isNaN(seededRefresh[i]) ? null : (seededRefresh[i] as number),
      };
  };
  const firstScanMs = performance.now() - scanStarted;
  const startupMs = performance.now() - startupStarted;

  const rssAfterStartup = process.memoryUsage().rss;
  const snapshotDir = args['heap-snapshots'];
  if (snapshotDir) writeHeapSnapshot(join(snapshotDir, 'after-startup.heapsnapshot'));
  let midSnapshotTaken = !snapshotDir;
  const midSnapshot = (): void => {
    if (midSnapshotTaken || clock.now() < START + (HOURS * 3_600_000) / 2) return;
    midSnapshotTaken = true;
    writeHeapSnapshot(join(snapshotDir as string, 'mid-run.heapsnapshot'));
  };
  const meter = new MemoryMeter(rssAfterStartup);
  const sampleRss = (): void => meter.sample();
  sampleRss();
  const end = START + HOURS * 3_600_000;
  const lagMs: number[] = [];
  const realMs: number[] = [];
  let refreshed = 0;
  let ahead = 0;
  let late = 0;
  let notRefreshed = 0;
  let expiredServed = 0;
  let served = 0;
  const errors = new Map<string, number>();
  const addError = (e: unknown): void => {
    const code = (e as { code?: string }).code ?? (e as Error).message;
    errors.set(code, (errors.get(code) ?? 0) + 1);
  };

  /** Callers: a random sample asks for tokens every tick; each token is checked against its own expiry. */
  const callers = async (): Promise<void> => {
    for (let i = 0; i < CALLERS; i++) {
      const n = scaleConnectionName(Math.floor(rand() * N));
      try {
        const t = await warden.accessToken(n);
        served++;
        const exp = accessTokenExpiry(t);
        if (exp === null || exp <= clock.now()) expiredServed++;
      } catch (e) {
        addError(e);
      }
    }
  };

  const cpuStarted = process.cpuUsage();
  const driveStarted = performance.now();
  let passes = 0;
  let schedulerCounts: Record<string, number> | null = null;

  if (DRIVER === 'sweep') {
    const heap = new DueHeap();
    for (const r of seeded()) {
      const at = shouldRefresh({
        now: START,
        hasAccessToken: true,
        accessExpiresAt: r.accessExpiresAt,
        obtainedAt: r.lastRefreshAt,
      }).refreshAt as number;
      heap.push({ at, i: r.i, exp: r.accessExpiresAt });
    }
    while (clock.now() < end) {
      await clock.advance(TICK_MS);
      const now = clock.now();
      const batch: Due[] = [];
      while (heap.peekAt() <= now) batch.push(heap.pop() as Due);
      const tickStarted = performance.now();
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < batch.length) {
          const item = batch[next++] as Due;
          try {
            const info = await warden.tokenInfo(scaleConnectionName(item.i));
            const done = performance.now();
            served++;
            const exp = accessTokenExpiry(info.accessToken);
            if (exp === null || exp <= now) expiredServed++;
            if (info.expiresAt === item.exp) notRefreshed++;
            else {
              refreshed++;
              if (now < item.exp) ahead++;
              else late++;
            }
            lagMs.push(now - item.at + (done - tickStarted));
            realMs.push(done - tickStarted);
            const at = shouldRefresh({ now, hasAccessToken: true, accessExpiresAt: info.expiresAt, obtainedAt: now })
              .refreshAt as number;
            heap.push({ at, i: item.i, exp: info.expiresAt as number });
          } catch (e) {
            addError(e);
            heap.push({ at: now + 30_000, i: item.i, exp: item.exp });
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(CONCURRENCY, batch.length) }, worker));
      passes++;
      await callers();
      if (passes % 60 === 0) sampleRss();
      else meter.rss();
      midSnapshot();
    }
  } else {
    // Audit from the warden's own events: each `refreshed` must come before the token it replaces
    // expires; an expiry heap finds tokens that expired without a refresh.
    const exp = new Float64Array(N);
    const dueAt = new Float64Array(N);
    const expiries = new DueHeap();
    for (const r of seeded()) {
      const i = r.i;
      exp[i] = r.accessExpiresAt;
      dueAt[i] = shouldRefresh({
        now: START,
        hasAccessToken: true,
        accessExpiresAt: r.accessExpiresAt,
        obtainedAt: r.lastRefreshAt,
      }).refreshAt as number;
      expiries.push({ at: r.accessExpiresAt, i, exp: r.accessExpiresAt });
    }
    warden.events.on(
      'event',
      (e: { type: string; connection: string | null; data: Record<string, unknown> | null }) => {
        if (e.type !== 'refreshed' || !e.connection) return;
        const now = clock.now();
        const i = connIndex(e.connection);
        if (now < (exp[i] as number)) ahead++;
        else late++;
        lagMs.push(now - (dueAt[i] as number));
        const next = e.data?.['expiresAt'] as number;
        exp[i] = next;
        dueAt[i] = shouldRefresh({ now, hasAccessToken: true, accessExpiresAt: next, obtainedAt: now })
          .refreshAt as number;
        expiries.push({ at: next, i, exp: next });
      },
    );
    const auditExpiries = (): void => {
      while (expiries.peekAt() <= clock.now()) {
        const x = expiries.pop() as Due;
        if (exp[x.i] === x.exp) notRefreshed++;
      }
    };
    const orchestrator = createOrchestrator(partsOf(warden), {
      channels: new Map(),
      clock,
      logger: silentLogger,
      baseUrl: 'http://127.0.0.1:1',
    });
    const scheduler = createScheduler(partsOf(warden), orchestrator, {
      clock,
      probeIntervalMs: 0,
      concurrency: CONCURRENCY,
      rescanMs: Number(args.rescan) * 1000,
    });
    const before = () => partsOf(warden).keeper.refreshCount;
    scheduler.start();
    await scheduler.settled();
    while (clock.now() < end) {
      const r0 = before();
      await clock.advance(TICK_MS);
      await scheduler.settled();
      refreshed += partsOf(warden).keeper.refreshCount - r0;
      auditExpiries();
      midSnapshot();
      passes++;
      await callers();
      if (passes % 60 === 0) sampleRss();
      else meter.rss();
      if (passes % 30 === 0 && !args.json)
        process.stderr.write(
          `  sim ${((clock.now() - START) / 60_000).toFixed(1)} min, ${refreshed} refreshes, ${((performance.now() - driveStarted) / 1000).toFixed(0)} s real\n`,
        );
    }
    await scheduler.stop();
    schedulerCounts = {
      ...scheduler.counts,
      ...Object.fromEntries(Object.entries(scheduler.reads).map(([k, v]) => [`reads_${k}`, v])),
    };
  }
  sampleRss();
  const cpu = process.cpuUsage(cpuStarted);
  const driveMs = performance.now() - driveStarted;

  // ---- final audit: every row fresh, every stored refresh token the endpoint's newest ----
  const gens = await ep.generations();
  const epStats = await ep.stats();
  // A page of decrypted rows at a time, as every product path that needs secrets reads them.
  let auditedRows = 0;
  let expiredAtEnd = 0;
  let staleRefreshTokens = 0;
  let unhealthy = 0;
  for await (const page of connectionPages(partsOf(warden).store)) {
    for (const r of page) {
      auditedRows++;
      if ((r.accessExpiresAt ?? 0) <= clock.now()) expiredAtEnd++;
      if (r.refreshToken !== `rt.${r.name}.${gens[r.name] ?? 0}`) staleRefreshTokens++;
      if (r.state !== 'healthy') unhealthy++;
    }
    meter.rss();
  }
  const dbBytes = statSync(dbFile).size;
  await warden.close();

  lagMs.sort((a, b) => a - b);
  realMs.sort((a, b) => a - b);
  const simHours = HOURS;
  const result = {
    driver: DRIVER,
    connections: N,
    simulatedHours: simHours,
    accessTokenTtlSeconds: TTL_S,
    tickSeconds: TICK_MS / 1000,
    seedMs: Math.round(seedMs),
    startup: {
      openWardenMs: Math.round(openMs),
      firstFullReadMs: Math.round(firstScanMs),
      totalMs: Math.round(startupMs),
    },
    refreshes: {
      total: refreshed,
      endpointRefreshes: epStats.refreshes,
      ahead,
      late,
      notRefreshedWhenDue: notRefreshed,
      reusedRefreshTokens: epStats.reused,
    },
    tokensServed: served,
    expiredTokensServed: expiredServed,
    refreshLagMs: lagMs.length
      ? {
          p50: Math.round(pct(lagMs, 50)),
          p99: Math.round(pct(lagMs, 99)),
          max: Math.round(lagMs[lagMs.length - 1] ?? 0),
        }
      : null,
    refreshRealLatencyMs:
      DRIVER === 'sweep'
        ? {
            p50: +pct(realMs, 50).toFixed(1),
            p99: +pct(realMs, 99).toFixed(1),
            max: +(realMs[realMs.length - 1] ?? 0).toFixed(1),
          }
        : null,
    memory: {
      heapGrowthPercent: heapPolicy?.growthPercent ?? null,
      rssBeforeOpenMB: Math.round(rssBefore / 2 ** 20),
      rssAfterOpenWardenMB: Math.round(rssAfterOpen / 2 ** 20),
      rssAfterStartupMB: Math.round(rssAfterStartup / 2 ** 20),
      ...meter.report(),
    },
    cpu: {
      totalSeconds: +((cpu.user + cpu.system) / 1e6).toFixed(1),
      secondsPerSimulatedHour: +((cpu.user + cpu.system) / 1e6 / simHours).toFixed(1),
      realSeconds: +(driveMs / 1000).toFixed(1),
      refreshesPerRealSecond: Math.round(refreshed / (driveMs / 1000)),
      passes,
    },
    scheduler: schedulerCounts,
    audit: {
      rows: auditedRows,
      expiredAtEnd,
      staleRefreshTokens,
      unhealthy,
      dbMB: +(dbBytes / 2 ** 20).toFixed(1),
    },
    errors: Object.fromEntries(errors),
  };
  if (args.json) process.stdout.write(JSON.stringify(result) + '\n');
  else console.log(JSON.stringify(result, null, 2));
} finally {
  ep.stop();
  rmSync(dir, { recursive: true, force: true });
}
