/**
 * The daemon's heap policy. After each full GC, V8 lets the old generation grow to up to 4× the
 * live size before the next one (the factor depends on GC speed and on the heap limit, which is
 * large on any machine with a few GB of RAM). For a long-running daemon whose live heap is steady,
 * that headroom holds nothing but garbage: at 100,000 connections the scheduler's live heap of
 * ~95 MB let the heap reach ~440 MB (bench/scale.ts --driver scheduler, docs/reliability.md).
 *
 * `tokenwarden serve` therefore fixes the growing factor at 1 + percent/100 (default 30 %): full
 * GCs come sooner, each over the same live set, and resident memory follows the live heap.
 * `TOKENWARDEN_HEAP_GROWTH=<percent>` changes it; `0` leaves V8's own heuristics. A
 * `--heap-growing-percent` given to node (command line or NODE_OPTIONS) is left alone.
 *
 * The flag is read by V8 each time it recomputes its limits, so setting it at run time applies
 * from the next GC on (Node keeps V8 flags writable for `v8.setFlagsFromString`).
 */
import { setFlagsFromString } from 'node:v8';
import { ConfigError } from './errors.js';

/**
 * 30 %: at 100,000 connections, side by side with 50 % (`bench/scale.ts --versus=--heap-growth=50`),
 * a lower peak RSS at no extra CPU per simulated hour.
 */
export const DEFAULT_HEAP_GROWTH_PERCENT = 30;

export interface HeapPolicy {
  /** The percent now in force, or null when V8's heuristics decide. */
  growthPercent: number | null;
  /** Why: `default`, `env` or `node-flag` (set on node's own command line). */
  source: 'default' | 'env' | 'node-flag';
}

export function applyDaemonHeapPolicy(
  env: NodeJS.ProcessEnv = process.env,
  nodeFlags: readonly string[] = [...process.execArgv, ...(env['NODE_OPTIONS']?.split(/\s+/) ?? [])],
): HeapPolicy {
  if (nodeFlags.some((f) => /^--heap[-_]growing[-_]percent(=|$)/.test(f)))
    return { growthPercent: null, source: 'node-flag' };
  const raw = env['TOKENWARDEN_HEAP_GROWTH'];
  let percent = DEFAULT_HEAP_GROWTH_PERCENT;
  if (raw !== undefined && raw !== '') {
    if (!/^\d{1,3}$/.test(raw.trim()) || Number(raw) > 300)
      throw new ConfigError(
        `TOKENWARDEN_HEAP_GROWTH must be a whole percent from 0 (V8's own heuristics) to 300, not "${raw}"`,
      );
    percent = Number(raw);
  }
  const source = raw !== undefined && raw !== '' ? 'env' : 'default';
  if (percent === 0) return { growthPercent: null, source };
  setFlagsFromString(`--heap-growing-percent=${percent}`);
  return { growthPercent: percent, source };
}
