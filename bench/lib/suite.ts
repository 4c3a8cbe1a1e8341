/**
 * Every benchmark in bench/, with the arguments `npm run bench` runs it with (sizes chosen so the
 * whole suite takes about 15 minutes on a quiet 2-core machine) and the smaller ones of
 * `npm run bench -- --quick` (a smoke run). `results` are the names it writes with `writeResult`,
 * i.e. the `<!-- bench:NAME -->` blocks of docs/benchmarks.md it fills.
 * test/hygiene/benchmarks-doc.test.ts checks this list against bench/ and the document.
 */
export interface BenchEntry {
  file: string;
  results: string[];
  args: string[];
  quick: string[];
  /** Node flags for the benchmark's process (besides `--import tsx`). */
  nodeFlags?: string[];
  /** Runs the built CLI (dist/): the runner builds once before the suite. */
  needsBuild?: boolean;
}

export const BENCHMARKS: BenchEntry[] = [
  { file: 'cli-cold-start.ts', results: ['cli-cold-start'], args: ['21'], quick: ['5'], needsBuild: true },
  { file: 'hot-path.ts', results: ['hot-path'], args: ['500000', '9'], quick: ['20000', '5'] },
  { file: 'refresh-contention.ts', results: ['refresh-contention'], args: ['100', '8', '5'], quick: ['10', '3', '5'] },
  { file: 'paste-latency.ts', results: ['paste-latency'], args: ['200', '5'], quick: ['10', '5'] },
  { file: 'http-token.ts', results: ['http-token'], args: ['4', '32', '5'], quick: ['1', '8', '5'] },
  { file: 'provider-http.ts', results: ['provider-http'], args: ['5000', '32', '5'], quick: ['200', '8', '5'] },
  { file: 'config-load.ts', results: ['config-load'], args: ['20000', '5'], quick: ['500', '5'] },
  { file: 'crash.ts', results: ['crash'], args: ['40', '20', '20'], quick: ['2', '1', '1'] },
  { file: 'fault-injection.ts', results: ['fault-injection'], args: ['10'], quick: ['1'] },
  { file: 'multinode.ts', results: ['multinode'], args: ['5000', '4', '32'], quick: ['200', '2', '8'] },
  {
    file: 'mail.ts',
    results: ['mail-failover', 'mail-soak'],
    args: ['all', '--samples', '100', '--pairs', '5', '--soak-messages', '1000'],
    quick: ['all', '--samples', '10', '--pairs', '5', '--soak-messages', '20'],
  },
  {
    file: 'reseal.ts',
    results: ['key-rotation'],
    args: ['100000'],
    quick: ['1000'],
    nodeFlags: ['--expose-gc'],
  },
  { file: 'outbox-throughput.ts', results: ['outbox-throughput'], args: ['300', '5', '8'], quick: ['20', '5', '2'] },
  {
    file: 'smtp-proxy.ts',
    results: ['smtp-proxy'],
    args: ['200', '5', '8'],
    quick: ['20', '5', '2'],
    needsBuild: true,
  },
  { file: 'api-proxy.ts', results: ['api-proxy'], args: ['3', '16', '5'], quick: ['1', '4', '5'], needsBuild: true },
  {
    file: 'scale.ts',
    results: ['scale'],
    // The daemon's heap policy side by side with the previous default growth (50 %).
    args: ['--connections', '100000', '--driver', 'scheduler', '--hours', '0.25', '--versus=--heap-growth=50'],
    quick: ['--connections', '2000', '--driver', 'scheduler', '--hours', '0.05'],
  },
  {
    file: 'serve-memory.ts',
    results: ['serve-memory'],
    args: ['100000', '60'],
    quick: ['1000', '10'],
    needsBuild: true,
  },
];

/** bench/*.ts files that are not benchmarks: child processes and shared code of the ones above. */
export const SUPPORT: Record<string, string> = {
  'contention-worker.ts': 'a process of refresh-contention.ts',
  'crash-run.ts': 'crash.ts and test/stress/crash.test.ts',
  'crash-worker.ts': 'a process of crash-run.ts',
  'fault-run.ts': 'fault-injection.ts and test/stress/fault-injection.test.ts',
  'heap-summary.ts': 'a tool: reads a V8 heap snapshot written by scale.ts or serve-memory.ts',
  'mail-common.ts': 'mail.ts and mail-soak-worker.ts',
  'mail-soak-worker.ts': 'a process of the mail soak',
  'multinode-worker.ts': 'a process of multinode.ts',
  'plain-node.ts': 'runs a benchmark on plain node instead of tsx (scale.ts)',
  'scale-common.ts': 'scale.ts, serve-memory.ts, provider-http.ts',
  'scale-runs.ts': 'scale.ts (runs the series of fresh processes and writes its result)',
  'scale-endpoint.ts': 'a process of scale.ts and provider-http.ts (the token endpoint)',
  'scale-seed.ts': 'a process of scale.ts (seeds the store)',
};
