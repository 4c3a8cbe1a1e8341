/**
 * `npm run bench`: every benchmark of bench/lib/suite.ts, one after another, then
 * scripts/bench-docs.ts to put their results into docs/benchmarks.md.
 *
 *   npm run bench                       # the full suite (~15 min on a quiet 2-core machine)
 *   npm run bench -- --quick            # smoke run: tiny sizes, results to a temporary directory,
 *                                       # docs untouched (also TW_BENCH_QUICK=1)
 *   npm run bench -- --only hot-path,crash
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { BENCHMARKS } from './suite.js';

const root = resolve(import.meta.dirname, '../..');
const argv = process.argv.slice(2);
const quick = argv.includes('--quick') || process.env['TW_BENCH_QUICK'] === '1';
const onlyIdx = argv.indexOf('--only');
const only = onlyIdx >= 0 ? new Set((argv[onlyIdx + 1] ?? '').split(',').map((s) => s.replace(/\.ts$/, ''))) : null;
const chosen = BENCHMARKS.filter((b) => !only || only.has(b.file.replace(/\.ts$/, '')));
if (only && chosen.length !== only.size) throw new Error(`--only: unknown benchmark among ${[...only].join(', ')}`);

// Quick runs write their results to a scratch directory: the documented figures stay the real ones.
const resultsDir = quick ? mkdtempSync(join(tmpdir(), 'tw-bench-quick-')) : join(root, 'bench/results');
const env = { ...process.env, ...(quick ? { TW_BENCH_RESULTS_DIR: resultsDir } : {}) };

function run(cmd: string, args: string[]): number {
  const r = spawnSync(cmd, args, { cwd: root, env, stdio: 'inherit' });
  return r.status ?? 1;
}

if (chosen.some((b) => b.needsBuild) && run('npm', ['run', 'build']) !== 0) process.exit(1);
const failed: string[] = [];
const t0 = performance.now();
for (const b of chosen) {
  const args = quick ? b.quick : b.args;
  const started = performance.now();
  process.stderr.write(`\n== ${b.file} ${args.join(' ')} (load average ${(loadavg()[0] as number).toFixed(1)})\n`);
  const status = run(process.execPath, [...(b.nodeFlags ?? []), '--import', 'tsx', join('bench', b.file), ...args]);
  const missing = b.results.filter((n) => !existsSync(join(resultsDir, `${n}.md`)));
  if (status !== 0 || (quick && missing.length))
    failed.push(`${b.file} (exit ${status}${missing.length ? `, no result: ${missing.join(', ')}` : ''})`);
  process.stderr.write(`== ${b.file}: ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
}
process.stderr.write(`\n${chosen.length} benchmarks in ${((performance.now() - t0) / 60_000).toFixed(1)} min\n`);
if (quick) rmSync(resultsDir, { recursive: true, force: true });
else if (run(process.execPath, ['--import', 'tsx', 'scripts/bench-docs.ts']) !== 0)
  failed.push('scripts/bench-docs.ts');
if (failed.length) {
  process.stderr.write(`failed: ${failed.join('; ')}\n`);
  process.exit(1);
}
