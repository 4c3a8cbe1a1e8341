/**
 * The daemon itself at scale: `tokenwarden serve` (dist/, plain node, real clock) with a
 * tokenwarden.yaml of N connections against the fast token endpoint, measured from outside:
 * start-up time (until it prints "serving on"), resident memory sampled from /proc every 250 ms,
 * peak (VmHWM), and the refreshes it made while it ran. Seeded so that refreshes fall due
 * throughout the run, as they would on a live node (access tokens of 1 h, spread evenly).
 *
 *   npm run build && npx tsx bench/serve-memory.ts [connections=100000] [seconds=120] [tmpDir=/tmp]
 *   TW_BENCH_SNAPSHOT=<dir> …   # also a V8 heap snapshot of the daemon at the end (read with bench/heap-summary.ts)
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKey } from '../src/store/key.js';
import { forkScaleEndpoint, scaleConnectionName } from './scale-common.js';

const n = Number(process.argv[2] ?? 100_000);
const seconds = Number(process.argv[3] ?? 120);
const dir = mkdtempSync(join(process.argv[4] ?? tmpdir(), 'tw-bench-serve-'));
const env = { ...process.env, TW_KEY: generateKey().toString('base64') };
const bench = import.meta.dirname;

function procStatus(pid: number): { rssMB: number; hwmMB: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string): number => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(s)?.[1] ?? 0);
  return { rssMB: Math.round(kb('VmRSS') / 1024), hwmMB: Math.round(kb('VmHWM') / 1024) };
}

const endpoint = await forkScaleEndpoint(bench, 3600);
const tokenUrl = endpoint.tokenUrl;

try {
  execFileSync(
    process.execPath,
    ['--import', 'tsx', join(bench, 'scale-seed.ts'), dir, String(n), '3600', String(Date.now())],
    { env, stdio: 'inherit' },
  );
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
  lines.length = 0;

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
  if (snapshotDir) {
    const before = new Set(readdirSync(snapshotDir));
    daemon.kill('SIGUSR2');
    // The snapshot is complete when its file stops growing.
    let last = -1;
    for (;;) {
      await new Promise((r) => setTimeout(r, 1000));
      const f = readdirSync(snapshotDir).find((x) => x.endsWith('.heapsnapshot') && !before.has(x));
      const size = f ? statSync(join(snapshotDir, f)).size : -1;
      if (f && size > 0 && size === last) break;
      last = size;
    }
  }
  daemon.kill('SIGTERM');
  await new Promise((resolve) => daemon.once('exit', resolve));
  samples.sort((a, b) => a - b);
  const result = {
    connections: n,
    seconds,
    startupMs: Math.round(startupMs),
    rssAfterStartupMB: afterStartup.rssMB,
    rssMaxDuringStartupMB: peakDuringStartup,
    rssDuringRun: {
      p50: samples[Math.floor(samples.length / 2)],
      max: samples[samples.length - 1],
    },
    peakRssMB: end.hwmMB,
    refreshesDuringRun: s.refreshes - r0,
    reusedRefreshTokens: s.reused,
  };
  console.log(JSON.stringify(result, null, 2));
} finally {
  endpoint.stop();
  rmSync(dir, { recursive: true, force: true });
}
