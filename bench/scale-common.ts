/** Shared by the scale benchmarks (bench/scale.ts, serve-memory.ts, provider-http.ts) and the seeding child. */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { getHeapSpaceStatistics } from 'node:v8';
import type { FastTokenStats } from '../test/peers/fast-token-endpoint.js';

/** The fast token endpoint in its own process (bench/scale-endpoint.ts), driven over IPC. */
export interface ScaleEndpoint {
  tokenUrl: string;
  authUrl: string;
  stats(): Promise<FastTokenStats>;
  /** Every connection's current refresh-token generation. */
  generations(): Promise<Record<string, number>>;
  stop(): void;
}

function ask<T>(child: ChildProcess, msg: string | null, key: string): Promise<T> {
  return new Promise((resolve) => {
    const on = (m: unknown): void => {
      if (m && typeof m === 'object' && key in m) {
        child.off('message', on);
        resolve((m as Record<string, T>)[key] as T);
      }
    };
    child.on('message', on);
    if (msg !== null) child.send(msg);
  });
}

/** Start the endpoint (access tokens of `ttlSeconds`) from the benchmark sources in `benchDir`. */
export async function forkScaleEndpoint(benchDir: string, ttlSeconds: number): Promise<ScaleEndpoint> {
  const child = fork(join(benchDir, 'scale-endpoint.ts'), [String(ttlSeconds)], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const tokenUrl = await ask<string>(child, null, 'tokenUrl');
  return {
    tokenUrl,
    authUrl: tokenUrl.replace('/token', '/authorize'),
    stats: () => ask<FastTokenStats>(child, 'stats', 'stats'),
    generations: () => ask<Record<string, number>>(child, 'gens', 'gens'),
    stop: () => child.send('exit'),
  };
}

/** Deterministic PRNG (mulberry32) so runs are comparable. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The i-th benchmark connection's name. */
export function scaleConnectionName(i: number): string {
  return `c${String(i).padStart(6, '0')}`;
}

export interface Due {
  at: number;
  /** Connection number (name: scaleConnectionName(i)). */
  i: number;
  exp: number;
}

/**
 * Binary min-heap of (due time, connection, expiry) in typed arrays: the benchmark's own state
 * stays a few MB, so the measured heap is tokenwarden's.
 */
export class DueHeap {
  private at = new Float64Array(1024);
  private conn = new Int32Array(1024);
  private exp = new Float64Array(1024);
  size = 0;
  peekAt(): number {
    return this.size > 0 ? (this.at[0] as number) : Infinity;
  }
  push(x: Due): void {
    if (this.size === this.at.length) {
      const grow = <T extends Float64Array | Int32Array>(a: T): T => {
        const b = new (a.constructor as new (n: number) => T)(a.length * 2);
        b.set(a);
        return b;
      };
      this.at = grow(this.at);
      this.conn = grow(this.conn);
      this.exp = grow(this.exp);
    }
    let i = this.size++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if ((this.at[p] as number) <= x.at) break;
      this.move(p, i);
      i = p;
    }
    this.at[i] = x.at;
    this.conn[i] = x.i;
    this.exp[i] = x.exp;
  }
  pop(): Due | undefined {
    if (this.size === 0) return undefined;
    const top: Due = { at: this.at[0] as number, i: this.conn[0] as number, exp: this.exp[0] as number };
    const n = --this.size;
    if (n > 0) {
      const last: Due = { at: this.at[n] as number, i: this.conn[n] as number, exp: this.exp[n] as number };
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = -1;
        let mAt = last.at;
        if (l < n && (this.at[l] as number) < mAt) {
          m = l;
          mAt = this.at[l] as number;
        }
        if (r < n && (this.at[r] as number) < mAt) m = r;
        if (m < 0) break;
        this.move(m, i);
        i = m;
      }
      this.at[i] = last.at;
      this.conn[i] = last.i;
      this.exp[i] = last.exp;
    }
    return top;
  }
  private move(from: number, to: number): void {
    this.at[to] = this.at[from] as number;
    this.conn[to] = this.conn[from] as number;
    this.exp[to] = this.exp[from] as number;
  }
}

/** Largest resident set, heap and heap-space sizes seen: `sample()` all of it, `rss()` the cheap part. */
export class MemoryMeter {
  private maxRss: number;
  private maxHeap = 0;
  private maxHeapTotal = 0;
  private maxExternal = 0;
  private maxArrayBuffers = 0;
  private readonly maxSpace: Record<string, number> = {};

  constructor(rss: number) {
    this.maxRss = rss;
  }

  rss(): void {
    this.maxRss = Math.max(this.maxRss, process.memoryUsage.rss());
  }

  sample(): void {
    const m = process.memoryUsage();
    this.maxRss = Math.max(this.maxRss, m.rss);
    this.maxHeap = Math.max(this.maxHeap, m.heapUsed);
    this.maxHeapTotal = Math.max(this.maxHeapTotal, m.heapTotal);
    this.maxExternal = Math.max(this.maxExternal, m.external);
    this.maxArrayBuffers = Math.max(this.maxArrayBuffers, m.arrayBuffers);
    for (const sp of getHeapSpaceStatistics())
      this.maxSpace[sp.space_name] = Math.max(this.maxSpace[sp.space_name] ?? 0, sp.space_size);
  }

  /** In MB: the maxima, and each V8 heap space of at least 1 MB at its largest. */
  report(): Record<string, number | Record<string, number>> {
    const mb = (x: number): number => Math.round(x / 2 ** 20);
    return {
      maxRssMB: mb(this.maxRss),
      maxHeapUsedMB: mb(this.maxHeap),
      maxHeapTotalMB: mb(this.maxHeapTotal),
      maxExternalMB: mb(this.maxExternal),
      maxArrayBuffersMB: mb(this.maxArrayBuffers),
      endHeapUsedMB: mb(process.memoryUsage().heapUsed),
      maxSpaceMB: Object.fromEntries(
        Object.entries(this.maxSpace)
          .filter(([, v]) => v >= 2 ** 20)
          .map(([k, v]) => [k, mb(v)]),
      ),
    };
  }
}
