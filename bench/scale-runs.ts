/**
 * bench/scale.ts by the benchmark rules: `--runs` (default 5, at least 5) fresh processes of
 * one run each (`--single`), and with `--versus <flag>` an alternative run interleaved ABBA
 * (`--versus=--v8-default-heap`: V8's own heap growth; `--versus=--driver=sweep`: the sweep
 * driver). Prints median and spread (min–max) per figure, the per-pair ratio of peak RSS, and
 * the load average at start and end; writes the table with bench/lib/report.ts (block `scale`
 * of docs/benchmarks.md).
 */
import { spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { median } from './lib/pairs.js';
import { writeResult } from './lib/report.js';

type Run = Record<string, unknown>;

/** One fresh process of bench/scale.ts, its JSON result. */
function runOnce(args: readonly string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(import.meta.dirname, 'scale.ts'), '--single', '--json', ...args],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      const line = out.trim().split('\n').at(-1) ?? '';
      if (code !== 0 || !line.startsWith('{')) reject(new Error(`scale run exited with ${code}: ${out.slice(-500)}`));
      else resolve(JSON.parse(line) as Run);
    });
  });
}

/** The figures reported, each a path into a run's JSON. */
const FIGURES: ReadonlyArray<[label: string, path: string, unit: string]> = [
  ['peak RSS', 'memory.maxRssMB', 'MB'],
  ['peak heap used', 'memory.maxHeapUsedMB', 'MB'],
  ['RSS after start-up', 'memory.rssAfterStartupMB', 'MB'],
  ['start-up (open + first full read)', 'startup.totalMs', 'ms'],
  ['CPU per simulated hour', 'cpu.secondsPerSimulatedHour', 's'],
  ['refreshes', 'refreshes.total', ''],
  ['refreshed late (after expiry)', 'refreshes.late', ''],
  ['expired tokens served', 'expiredTokensServed', ''],
  ['rotated refresh tokens lost', 'audit.staleRefreshTokens', ''],
];

function at(run: Run, path: string): number {
  let v: unknown = run;
  for (const k of path.split('.')) v = (v as Record<string, unknown> | undefined)?.[k];
  return Number(v);
}

function spread(xs: number[], unit: string): string {
  const f = (x: number): string => `${Math.round(x).toLocaleString('en-US')}${unit ? ` ${unit}` : ''}`;
  const lo = Math.min(...xs);
  const hi = Math.max(...xs);
  return lo === hi ? f(lo) : `${f(median(xs))} (${f(lo)}–${f(hi)})`;
}

export async function runScaleSeries(argv: readonly string[]): Promise<void> {
  const { values, tokens } = parseArgs({
    args: [...argv],
    options: { runs: { type: 'string', default: '5' }, versus: { type: 'string' } },
    strict: false,
    tokens: true,
  });
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 5) throw new Error('--runs must be a whole number ≥ 5 (the benchmark rules)');
  const versus = typeof values.versus === 'string' ? values.versus.split(' ').filter(Boolean) : null;
  // Everything but --runs/--versus goes to each run.
  const own = new Set(['runs', 'versus']);
  const passOn = argv.filter((_, i) => {
    const t = tokens.find((x) => x.index === i);
    if (t?.kind === 'option' && own.has(t.name)) return false;
    const prev = tokens.find((x) => x.index === i - 1);
    return !(prev?.kind === 'option' && own.has(prev.name) && prev.inlineValue === false);
  });
  const loadBefore = loadavg()[0] as number;
  const a: Run[] = [];
  const b: Run[] = [];
  for (let i = 0; i < runs; i++) {
    process.stderr.write(`scale: run ${i + 1} of ${runs}${versus ? ' (pair)' : ''}\n`);
    if (!versus) a.push(await runOnce(passOn));
    else if (i % 2 === 0) {
      a.push(await runOnce(passOn));
      b.push(await runOnce([...passOn, ...versus]));
    } else {
      b.push(await runOnce([...passOn, ...versus]));
      a.push(await runOnce(passOn));
    }
  }
  const loadAfter = loadavg()[0] as number;
  const first = a[0] as Run;
  const header = versus
    ? ['| figure | daemon | alternative |', '|---|---|---|']
    : ['| figure | median (min–max) |', '|---|---|'];
  const rows = FIGURES.map(([label, path, unit]) => {
    const cell = spread(
      a.map((r) => at(r, path)),
      unit,
    );
    return versus
      ? `| ${label} | ${cell} | ${spread(
          b.map((r) => at(r, path)),
          unit,
        )} |`
      : `| ${label} | ${cell} |`;
  });
  const ratios = versus ? a.map((r, i) => at(r, 'memory.maxRssMB') / at(b[i] as Run, 'memory.maxRssMB')) : [];
  const md = [
    `${at(first, 'connections').toLocaleString('en-US')} connections, ${String(first['driver'])} driver, ` +
      `${at(first, 'simulatedHours')} simulated h; ${runs} runs${versus ? ` interleaved (ABBA) with \`${versus.join(' ')}\`` : ''}, ` +
      `each a fresh process on plain node with the daemon's heap policy; median (min–max).`,
    '',
    ...header,
    ...rows,
    ...(versus
      ? [
          '',
          `Peak RSS, daemon / alternative per pair: ${median(ratios).toFixed(2)}× (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}).`,
        ]
      : []),
    '',
    `Left out on purpose: the clock is simulated (FakeClock: token lifetimes of ${at(first, 'accessTokenTtlSeconds')} s run in ` +
      'minutes of real time, so CPU and memory are those of a busier hour than a real one), and the provider is a fast local ' +
      'token endpoint in its own process. Store, keeper, scheduler, HTTP client and events are the real ones. ' +
      `Load average ${loadBefore.toFixed(1)} → ${loadAfter.toFixed(1)}.`,
  ].join('\n');
  writeResult('scale', `npx tsx bench/scale.ts ${argv.join(' ')}`.trim(), md, { runs: a, versus, alternative: b });
}
