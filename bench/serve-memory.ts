/**
 * The daemon itself at scale: `tokenwarden serve` (dist/, plain node, real clock) with a
 * tokenwarden.yaml of N connections against the fast token endpoint, measured from outside:
 * start-up time (until it prints "serving on"), resident memory sampled from /proc every 250 ms,
 * peak (VmHWM), and the refreshes it made while it ran. Seeded so that refreshes fall due
 * throughout the run, as they would on a live node (access tokens of 1 h, spread evenly).
 *
 * By the benchmark rules: `--runs` (default 5) fresh daemons, each on a freshly seeded store;
 * with `--versus v8-default-heap` each is paired (ABBA) with a daemon under V8's own heap growth
 * (`TOKENWARDEN_HEAP_GROWTH=0`). Median and spread (min–max), load average before and after;
 * the table goes to bench/results/serve-memory.md (docs/benchmarks.md, block `serve-memory`).
 *
 *   npm run build && npx tsx bench/serve-memory.ts [connections=100000] [seconds=120] [tmpDir=/tmp] [--runs 5] [--versus v8-default-heap]
 *   TW_BENCH_SNAPSHOT=<dir> …   # also a V8 heap snapshot of each daemon at the end (read with bench/heap-summary.ts)
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { generateKey } from '../src/store/key.js';
import { median } from './lib/pairs.js';
import { writeResult } from './lib/report.js';
import { forkScaleEndpoint, scaleConnectionName } from './scale-common.js';

const { values: opts, positionals } = parseArgs({
  options: { runs: { type: 'string', default: '5' }, versus: { type: 'string' } },
  allowPositionals: true,
});
const n = Number(positionals[0] ?? 100_000);
const seconds = Number(positionals[1] ?? 120);
const tmpBase = positionals[2] ?? tmpdir();
const runs = Number(opts.runs);
if (!Number.isInteger(runs) || runs < 5) throw new Error('--runs must be a whole number ≥ 5 (the benchmark rules)');
if (opts.versus !== undefined && opts.versus !== 'v8-default-heap')
  throw new Error(`--versus knows only v8-default-heap, not "${opts.versus}"`);
const bench = import.meta.dirname;

function procStatus(pid: number): { rssMB: number; hwmMB: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string): number => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(s)?.[1] ?? 0);
  return { rssMB: Math.round(kb('VmRSS') / 1024), hwmMB: Math.round(kb('VmHWM') / 1024) };
}

type ServeRun = {
  connections: number;
  seconds: number;
  startupMs: number;
  rssAfterStartupMB: number;
  rssMaxDuringStartupMB: number;
  rssDuringRun: { p50: number; max: number };
  peakRssMB: number;
  refreshesDuringRun: number;
  reusedRefreshTokens: number;
};

/** A tokenwarden.yaml of `n` connections to the fast endpoint; returns its path. */
function writeConfig(dir: string, tokenUrl: string): string {
  const lines = ['store: sqlite:state.db', 'key: env:TW_KEY', 'connections:'];
  for (let i = 0; i < n; i++)
    lines.push(
      `  ${scaleConnectionName(i)}:`,
      '    provider: oauth2',
      '    client_id: scale-client',
      '    client_secret: scale-secret',
      `    auth_url: ${tokenUrl.replace('/token', '/authorize')}`,
      `    token_url: ${tokenUrl}`,
      '    scopes: [api]',
      '    redirect_uri: http://127.0.0.1:1/cb',
    );
  const configPath = join(dir, 'tokenwarden.yaml');
  writeFileSync(configPath, lines.join('\n') + '\n');
  return configPath;
}

/** Ask the daemon for a V8 heap snapshot (SIGUSR2) and wait until its file stops growing. */
async function heapSnapshot(daemon: ChildProcess, snapshotDir: string): Promise<void> {
  const before = new Set(readdirSync(snapshotDir));
  daemon.kill('SIGUSR2');
  let last = -1;
  for (;;) {
    await new Promise((r) => setTimeout(r, 1000));
    const f = readdirSync(snapshotDir).find((x) => x.endsWith('.heapsnapshot') && !before.has(x));
    const size = f ? statSync(join(snapshotDir, f)).size : -1;
    if (f && size > 0 && size === last) return;
    last = size;
  }
}

/** One daemon on a freshly seeded store; `extraEnv` is the variant (empty: what `serve` runs). */
async function measureServe(extraEnv: Record<string, string>): Promise<ServeRun> {
  const dir = mkdtempSync(join(tmpBase, 'tw-bench-serve-'));
  const env = { ...process.env, TW_KEY: generateKey().toString('base64'), ...extraEnv };
  const endpoint = await forkScaleEndpoint(bench, 3600);
  const tokenUrl = endpoint.tokenUrl;

  try {
    execFileSync(
      process.execPath,
      ['--import', 'tsx', join(bench, 'scale-seed.ts'), dir, String(n), '3600', String(Date.now())],
      { env, stdio: 'inherit' },
    );
    const configPath = writeConfig(dir, tokenUrl);

    const started = performance.now();
    const daemon = spawn(
      process.execPath,
      [join(bench, '..', 'dist', 'cli', 'main.js'), '--config', configPath, 'serve', '--listen', '127.0.0.1:0'],
      {
        env: {
          ...env,
          TOKENWARDEN_LOG_LEVEL: 'error',
          ...(process.env['TW_BENCH_SNAPSHOT'] ? { NODE_OPTIONS: '--heapsnapshot-signal=SIGUSR2' } : {}),
        },
        cwd: process.env['TW_BENCH_SNAPSHOT'] ?? dir,
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const pid = daemon.pid as number;
    let out = '';
    let peakDuringStartup = 0;
    const sampler = setInterval(() => {
      peakDuringStartup = Math.max(peakDuringStartup, procStatus(pid).rssMB);
    }, 250);
    await new Promise<void>((resolve, reject) => {
      daemon.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('serving on')) resolve();
      });
      daemon.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${out}`)));
    });
    const startupMs = performance.now() - started;
    clearInterval(sampler);
    const afterStartup = procStatus(pid);
    const r0 = (await endpoint.stats()).refreshes;
    const samples: number[] = [];
    await new Promise<void>((resolve) => {
      const t = setInterval(() => {
        samples.push(procStatus(pid).rssMB);
        if (samples.length >= seconds * 4) {
          clearInterval(t);
          resolve();
        }
      }, 250);
    });
    const end = procStatus(pid);
    const s = await endpoint.stats();
    const snapshotDir = process.env['TW_BENCH_SNAPSHOT'];
    if (snapshotDir) await heapSnapshot(daemon, snapshotDir);
    daemon.kill('SIGTERM');
    await new Promise((resolve) => daemon.once('exit', resolve));
    samples.sort((a, b) => a - b);
    const result: ServeRun = {
      connections: n,
      seconds,
      startupMs: Math.round(startupMs),
      rssAfterStartupMB: afterStartup.rssMB,
      rssMaxDuringStartupMB: peakDuringStartup,
      rssDuringRun: {
        p50: samples[Math.floor(samples.length / 2)] as number,
        max: samples[samples.length - 1] as number,
      },
      peakRssMB: end.hwmMB,
      refreshesDuringRun: s.refreshes - r0,
      reusedRefreshTokens: s.reused,
    };
    process.stderr.write(JSON.stringify(result) + '\n');
    return result;
  } finally {
    endpoint.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const V8_DEFAULT = { TOKENWARDEN_HEAP_GROWTH: '0' };
const loadBefore = loadavg()[0] as number;
const a: ServeRun[] = [];
const b: ServeRun[] = [];
for (let i = 0; i < runs; i++) {
  process.stderr.write(`serve-memory: run ${i + 1} of ${runs}\n`);
  if (!opts.versus) a.push(await measureServe({}));
  else if (i % 2 === 0) {
    a.push(await measureServe({}));
    b.push(await measureServe(V8_DEFAULT));
  } else {
    b.push(await measureServe(V8_DEFAULT));
    a.push(await measureServe({}));
  }
}
const loadAfter = loadavg()[0] as number;

function spread(xs: number[], unit: string): string {
  const f = (x: number): string => `${Math.round(x).toLocaleString('en-US')}${unit ? ` ${unit}` : ''}`;
  const lo = Math.min(...xs);
  const hi = Math.max(...xs);
  return lo === hi ? f(lo) : `${f(median(xs))} (${f(lo)}–${f(hi)})`;
}
const FIGURES: ReadonlyArray<[string, (r: ServeRun) => number, string]> = [
  ['start-up (until "serving on")', (r) => r.startupMs, 'ms'],
  ['peak RSS (VmHWM, start-up included)', (r) => r.peakRssMB, 'MB'],
  ['RSS after start-up', (r) => r.rssAfterStartupMB, 'MB'],
  [`RSS during the ${seconds} s, p50`, (r) => r.rssDuringRun.p50, 'MB'],
  [`RSS during the ${seconds} s, max`, (r) => r.rssDuringRun.max, 'MB'],
  ['refreshes during the run', (r) => r.refreshesDuringRun, ''],
  ['refresh tokens reused (rotation lost)', (r) => r.reusedRefreshTokens, ''],
];
const rows = FIGURES.map(
  ([label, get, unit]) =>
    `| ${label} | ${spread(a.map(get), unit)} |${opts.versus ? ` ${spread(b.map(get), unit)} |` : ''}`,
);
const ratios = opts.versus ? a.map((r, i) => r.peakRssMB / (b[i] as ServeRun).peakRssMB) : [];
writeResult(
  'serve-memory',
  `npm run build && npx tsx bench/serve-memory.ts ${process.argv.slice(2).join(' ')}`.trim(),
  [
    `\`tokenwarden serve\` (dist/, plain node, real clock) with a tokenwarden.yaml of ${n.toLocaleString('en-US')} connections, ` +
      `access tokens of 1 h spread evenly so refreshes fall due throughout; ${runs} fresh daemons` +
      `${opts.versus ? ", each paired (ABBA) with one under V8's own heap growth (`TOKENWARDEN_HEAP_GROWTH=0`)" : ''}; median (min–max).`,
    '',
    opts.versus ? '| figure | daemon | V8 default heap growth |' : '| figure | median (min–max) |',
    opts.versus ? '|---|---|---|' : '|---|---|',
    ...rows,
    ...(opts.versus
      ? [
          '',
          `Peak RSS, daemon / V8 default per pair: ${median(ratios).toFixed(2)}× (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}).`,
        ]
      : []),
    '',
    'Left out on purpose: the provider is a fast local token endpoint in its own process. ' +
      `Load average ${loadBefore.toFixed(1)} → ${loadAfter.toFixed(1)}.`,
  ].join('\n'),
  { runs: a, alternative: b },
);
