/**
 * Multi-node scale: N connections (default 100,000) shared by 4 node
 * processes on one PostgreSQL, against a fast local token endpoint that rotates refresh tokens
 * and refuses a reused one (invalid_grant). Side by side: one node on SQLite.
 *
 * Reports: full refresh sweep time (every access token expired at once; nodes split the
 * connections, and a second "contended" sweep where every node walks every connection), token
 * reads per second across nodes, and refresh requests per expiry (target 1) with the
 * invalid_grant count (target 0). A correctness measurement at scale: the figures are counts and
 * one run's times. Left out on purpose: the nodes' clocks are driven over IPC (every access token
 * expires at one instant) and the token endpoint is a minimal local server, not a provider.
 *
 *   npx tsx bench/multinode.ts [connections=100000] [nodes=4] [concurrency=32]
 *
 * Uses a throwaway PostgreSQL (test/peers/postgres.ts) or TOKENWARDEN_TEST_PG_URL.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import Database from 'better-sqlite3';
import pg from 'pg';

import { generateKey } from '../src/store/key.js';
import { openStore } from '../src/store/open-store.js';
import { createSealer } from '../src/store/seal.js';
import { startPostgres } from '../test/peers/postgres.js';
import { loadMeter } from './lib/pairs.js';
import { writeResult } from './lib/report.js';

const COUNT = Number(process.argv[2] ?? 100_000);
const NODES = Number(process.argv[3] ?? 4);
const CONCURRENCY = Number(process.argv[4] ?? 32);
const T0 = Date.UTC(2026, 0, 1);
const HOUR = 3_600_000;
const names = Array.from({ length: COUNT }, (_, i) => `c${String(i).padStart(6, '0')}`);
const dir = mkdtempSync(join(tmpdir(), 'tw-bench-multinode-'));
const key = generateKey();
process.env['TW_BENCH_KEY'] = key.toString('base64');
process.env['TW_BENCH_DIR'] = dir;
const sealer = createSealer(key);

// ---- a fast token endpoint with rotation: rt.<name>.<generation>; a stale one is invalid_grant
const generation = new Map<string, number>();
let requests = 0;
let invalidGrant = 0;
const server = createServer((req, res) => {
  let body = '';
  req.on('data', (d: Buffer) => (body += d.toString()));
  req.on('end', () => {
    requests++;
    const rt = new URLSearchParams(body).get('refresh_token') ?? '';
    const [, name = '', gen = ''] = rt.split('.');
    const current = generation.get(name) ?? 0;
    res.setHeader('content-type', 'application/json');
    if (Number(gen) !== current) {
      invalidGrant++;
      res.statusCode = 400;
      res.end('{"error":"invalid_grant"}');
      return;
    }
    generation.set(name, current + 1);
    res.end(
      JSON.stringify({
        access_token: `at.${name}.${current + 1}`,
        token_type: 'Bearer',
        expires_in: 3600,
        refresh_token: `rt.${name}.${current + 1}`,
      }),
    );
  });
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const tokenUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;

/** Every connection healthy, its access token expiring at T0 + 1 h (sealed like the stores do). */
function seedRows(): unknown[][] {
  generation.clear();
  return names.map((n) => [
    n,
    'healthy',
    1,
    sealer.seal(`at.${n}.0`, `connections:${n}:access_token`),
    sealer.seal(`rt.${n}.0`, `connections:${n}:refresh_token`),
    'Bearer',
    T0 + HOUR,
    T0,
    T0,
    T0,
    0,
    T0,
    T0,
  ]);
}
const COLUMNS =
  'name, state, version, access_token, refresh_token, token_type, access_expires_at, last_refresh_at, last_used_at, granted_at, failure_count, created_at, updated_at';

async function seedPostgres(url: string): Promise<void> {
  await (await openStore(url, { key, keySpec: 'env:TW_BENCH_KEY', baseDir: dir })).close();
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  const rows = seedRows();
  for (let i = 0; i < rows.length; i += 1000) {
    const batch = rows.slice(i, i + 1000);
    const values: unknown[] = [];
    const tuples = batch.map((r) => `(${r.map((v) => (values.push(v), `$${values.length}`)).join(', ')})`);
    await c.query(`INSERT INTO connections (${COLUMNS}) VALUES ${tuples.join(', ')}`, values);
  }
  await c.end();
}

async function seedSqlite(file: string): Promise<void> {
  await (await openStore(`sqlite:${file}`, { key, keySpec: 'env:TW_BENCH_KEY', baseDir: dir })).close();
  const db = new Database(join(dir, file));
  const stmt = db.prepare(
    `INSERT INTO connections (${COLUMNS}) VALUES (${COLUMNS.split(',')
      .map(() => '?')
      .join(', ')})`,
  );
  db.transaction(() => seedRows().forEach((r) => stmt.run(...(r as Array<string | number>))))();
  db.close();
}

interface Node {
  ask<T>(m: Record<string, unknown>): Promise<T>;
  child: ChildProcess;
}
async function startNode(store: string, owner: string): Promise<Node> {
  const child = fork(join(import.meta.dirname, 'multinode-worker.ts'), [store, tokenUrl, String(COUNT), owner], {
    execArgv: ['--import', 'tsx', '--max-old-space-size=2048'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  await new Promise((r) => child.once('message', r));
  let id = 0;
  const waiting = new Map<number, (m: { ok: boolean; value?: unknown; error?: string }) => void>();
  child.on('message', (m: { id?: number; ok: boolean }) => {
    if (m.id !== undefined) waiting.get(m.id)?.(m);
  });
  return {
    child,
    ask: <T>(m: Record<string, unknown>) =>
      new Promise<T>((resolve, reject) => {
        const n = id++;
        waiting.set(n, (r) => (r.ok ? resolve(r.value as T) : reject(new Error(r.error))));
        child.send({ ...m, id: n });
      }),
  };
}

async function scenario(label: string, store: string, nodeCount: number): Promise<Record<string, unknown>> {
  const started = performance.now();
  const nodes = await Promise.all(Array.from({ length: nodeCount }, (_, i) => startNode(store, `${label}-node-${i}`)));
  const startupS = (performance.now() - started) / 1000;
  const result: Record<string, unknown> = {
    nodes: nodeCount,
    connections: COUNT,
    startupSeconds: +startupS.toFixed(1),
  };

  const sweep = async (t: number, partitioned: boolean): Promise<Record<string, number | string[]>> => {
    const r0 = requests;
    const i0 = invalidGrant;
    const s = performance.now();
    const runs = await Promise.all(
      nodes.map((n, i) =>
        n.ask<{ ms: number; errors: string[] }>({
          op: 'sweep',
          t,
          part: partitioned ? i : 0,
          parts: partitioned ? nodeCount : 1,
          concurrency: CONCURRENCY,
        }),
      ),
    );
    const seconds = (performance.now() - s) / 1000;
    return {
      seconds: +seconds.toFixed(1),
      refreshesPerSecond: Math.round((requests - r0) / seconds),
      refreshRequestsPerExpiry: +((requests - r0) / COUNT).toFixed(4),
      invalidGrant: invalidGrant - i0,
      errors: runs.flatMap((r) => r.errors),
    };
  };

  result['sweep'] = await sweep(T0 + HOUR, true);
  // Every node reads every token once (from the store where another node refreshed it)…
  const fill = performance.now();
  await Promise.all(
    nodes.map((n) => n.ask({ op: 'sweep', t: T0 + HOUR, part: 0, parts: 1, concurrency: CONCURRENCY })),
  );
  result['storeReadPassSeconds'] = +((performance.now() - fill) / 1000).toFixed(1);
  // …then serves reads from memory.
  const reads = await Promise.all(
    nodes.map((n) => n.ask<{ reads: number; seconds: number }>({ op: 'reads', t: T0 + HOUR + 1, ms: 3_000 })),
  );
  result['tokenReadsPerSecond'] = Math.round(reads.reduce((a, r) => a + r.reads / r.seconds, 0));
  if (nodeCount > 1) result['contendedSweep'] = await sweep(T0 + 2 * HOUR, false);
  await Promise.all(nodes.map((n) => n.ask({ op: 'exit', t: 0 }).catch(() => undefined)));
  return result;
}

const load = loadMeter();
const pgPeer = await startPostgres();
const pgUrl = await pgPeer.createDatabase('bench');
let t = performance.now();
await seedPostgres(pgUrl);
const seedPg = (performance.now() - t) / 1000;
const postgres = { seedSeconds: +seedPg.toFixed(1), ...(await scenario('pg', pgUrl, NODES)) };
console.error('postgres', JSON.stringify(postgres));

t = performance.now();
await seedSqlite('state.db');
const seedSq = (performance.now() - t) / 1000;
const sqlite = { seedSeconds: +seedSq.toFixed(1), ...(await scenario('sqlite', 'sqlite:state.db', 1)) };
report(postgres, sqlite);

await pgPeer.stop();
server.close();
rmSync(dir, { recursive: true, force: true });
process.exit(0);

function report(pgR: Record<string, unknown>, sqR: Record<string, unknown>): void {
  type Sweep = {
    seconds: number;
    refreshesPerSecond: number;
    refreshRequestsPerExpiry: number;
    invalidGrant: number;
    errors: string[];
  };
  const ps = pgR['sweep'] as Sweep;
  const pc = pgR['contendedSweep'] as Sweep | undefined;
  const ss = sqR['sweep'] as Sweep;
  const n = (x: unknown): string => Number(x).toLocaleString('en');
  const sweep = (x: Sweep | undefined): string => (x ? `${x.seconds} s (${n(x.refreshesPerSecond)} refreshes/s)` : '—');
  const perExpiry = (x: Sweep | undefined): string => (x ? `**${x.refreshRequestsPerExpiry.toFixed(4)}**` : '—');
  const errors = [ps, pc, ss].reduce((k, x) => k + (x?.errors.length ?? 0), 0);
  writeResult(
    'multinode',
    `npx tsx bench/multinode.ts ${COUNT} ${NODES} ${CONCURRENCY}`,
    [
      `${n(COUNT)} \`oauth2\` connections, every access token expiring at the same instant; ${NODES} node processes on one throwaway PostgreSQL 15, side by side with one node on SQLite; a local token endpoint that rotates refresh tokens and answers invalid_grant to a reused one. "Sweep": each node gets a token for its share of the connections, ${CONCURRENCY} at a time; "contended sweep": every node walks every connection, so each expiry is raced by all ${NODES} nodes. One run, ${load.end()}. Left out on purpose: the nodes' clocks are driven over IPC, and the token endpoint is a minimal local server.`,
      '',
      `| | PostgreSQL, ${NODES} nodes | SQLite, 1 node |`,
      '|---|---|---|',
      `| refresh requests per expiry, sweep | ${perExpiry(ps)} | ${perExpiry(ss)} |`,
      `| refresh requests per expiry, contended sweep | ${perExpiry(pc)} | — |`,
      `| invalid_grant | **${ps.invalidGrant + (pc?.invalidGrant ?? 0)}** | **${ss.invalidGrant}** |`,
      `| caller errors | ${ps.errors.length + (pc?.errors.length ?? 0)} | ${ss.errors.length} |`,
      `| full refresh sweep (one run) | ${sweep(ps)} | ${sweep(ss)} |`,
      `| contended sweep (one run) | ${sweep(pc)} | — |`,
      `| token reads/s from memory, all nodes (one run) | ${n(pgR['tokenReadsPerSecond'])} | ${n(sqR['tokenReadsPerSecond'])} |`,
      `| start-up (one run) | ${String(pgR['startupSeconds'])} s | ${String(sqR['startupSeconds'])} s |`,
      '',
      `Targets: 1 refresh request per expiry, 0 invalid_grant, 0 caller errors (${errors} here). On two cores the ${NODES} nodes and the database share the CPU, so times are not a scaling figure; the point measured is correctness under contention.`,
    ].join('\n'),
    { postgres: pgR, sqlite: sqR },
  );
}
