/**
 * Side-by-side measurement rules shared by every benchmark: the product and its peer run
 * interleaved (A B, then B A, … — ABBA order, so a drift in machine load or JIT warm-up hits both
 * sides alike), at least 5 pairs, and the figure reported is the median of the per-pair ratios
 * with its spread (min–max) and the load average at the start and end of the run.
 */
import { loadavg } from 'node:os';

export interface PairStats {
  pairs: number;
  /** Median of product/peer per pair (for times: < 1 means the product is faster). */
  ratio: number;
  ratioMin: number;
  ratioMax: number;
  /** Median of each side's own samples. */
  a: number;
  b: number;
  loadBefore: number;
  loadAfter: number;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const n = s.length;
  if (n === 0) return NaN;
  return n % 2 ? (s[(n - 1) / 2] as number) : ((s[n / 2 - 1] as number) + (s[n / 2] as number)) / 2;
}

export function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((x, y) => x - y);
  if (s.length === 0) return NaN;
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] as number;
}

/**
 * Run `a` (the product) and `b` (the peer) `pairs` times each in ABBA order; each call returns
 * one sample (a time, a rate — whatever the ratio is of). `warmup` calls of each are discarded.
 */
export async function interleaved(opts: {
  a: () => Promise<number> | number;
  b: () => Promise<number> | number;
  pairs: number;
  warmup?: number;
}): Promise<PairStats & { samplesA: number[]; samplesB: number[] }> {
  if (opts.pairs < 5) throw new Error('at least 5 pairs');
  for (let i = 0; i < (opts.warmup ?? 1); i++) {
    await opts.a();
    await opts.b();
  }
  const loadBefore = loadavg()[0] as number;
  const samplesA: number[] = [];
  const samplesB: number[] = [];
  for (let i = 0; i < opts.pairs; i++) {
    if (i % 2 === 0) {
      samplesA.push(await opts.a());
      samplesB.push(await opts.b());
    } else {
      samplesB.push(await opts.b());
      samplesA.push(await opts.a());
    }
  }
  const ratios = samplesA.map((x, i) => x / (samplesB[i] as number));
  return {
    pairs: opts.pairs,
    ratio: median(ratios),
    ratioMin: Math.min(...ratios),
    ratioMax: Math.max(...ratios),
    a: median(samplesA),
    b: median(samplesB),
    loadBefore,
    loadAfter: loadavg()[0] as number,
    samplesA,
    samplesB,
  };
}

/** "1.42× (1.31–1.55)" */
export function formatRatio(s: Pick<PairStats, 'ratio' | 'ratioMin' | 'ratioMax'>): string {
  return `${s.ratio.toFixed(2)}× (${s.ratioMin.toFixed(2)}–${s.ratioMax.toFixed(2)})`;
}

export function formatLoad(s: Pick<PairStats, 'loadBefore' | 'loadAfter'>): string {
  return `load average ${s.loadBefore.toFixed(1)} → ${s.loadAfter.toFixed(1)}`;
}

/**
 * For runs that report counts rather than a ratio (crash safety, fault injection, multi-node):
 * the load average at the start; `end()` gives the same "load average a → b" text.
 */
export function loadMeter(): { loadBefore: number; end: () => string } {
  const loadBefore = loadavg()[0] as number;
  return { loadBefore, end: () => formatLoad({ loadBefore, loadAfter: loadavg()[0] as number }) };
}
