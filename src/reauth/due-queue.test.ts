import { describe, expect, it } from 'vitest';
import { DueQueue } from './due-queue.js';

/** Deterministic PRNG (mulberry32). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('DueQueue', () => {
  it('pops what is due, earliest first, and leaves the rest', () => {
    const q = new DueQueue();
    q.set(1, 30);
    q.set(2, 10);
    q.set(3, 20);
    q.set(4, 40);
    expect(q.peekAt()).toBe(10);
    expect(q.popDue(25)).toEqual([2, 3]);
    expect(q.size).toBe(2);
    expect(q.peekAt()).toBe(30);
    expect(q.popDue(100)).toEqual([1, 4]);
    expect(q.peekAt()).toBe(Infinity);
  });

  it.each([
    ['earlier', 5, [7, 1, 2]],
    ['later', 50, [1, 2, 7]],
  ])('set on a queued id moves it %s instead of adding a second entry', (_, time, order) => {
    const q = new DueQueue();
    q.set(1, 10);
    q.set(7, 15);
    q.set(2, 20);
    q.set(7, time);
    expect(q.size).toBe(3);
    expect(q.at(7)).toBe(time);
    expect(q.popDue(100)).toEqual(order);
  });

  it('delete removes an id from anywhere in the heap; deleting twice is harmless', () => {
    const q = new DueQueue();
    for (const [id, t] of [
      [1, 5],
      [2, 1],
      [3, 9],
      [4, 3],
      [5, 7],
    ] as const)
      q.set(id, t);
    q.delete(4);
    q.delete(4);
    q.delete(99);
    expect(q.at(4)).toBeNull();
    expect(q.popDue(100)).toEqual([2, 1, 5, 3]);
    q.set(4, 2);
    expect(q.popDue(100)).toEqual([4]);
  });

  it('agrees with a sorted reference under random sets, moves and deletes', () => {
    const rand = prng(7);
    const q = new DueQueue();
    const ref = new Map<number, number>();
    for (let step = 0; step < 5_000; step++) {
      const id = Math.floor(rand() * 300);
      const r = rand();
      if (r < 0.6) {
        const t = Math.floor(rand() * 10_000);
        q.set(id, t);
        ref.set(id, t);
      } else if (r < 0.8) {
        q.delete(id);
        ref.delete(id);
      } else {
        const now = Math.floor(rand() * 10_000);
        const popped = q.popDue(now);
        const expected = [...ref].filter(([, t]) => t <= now).sort((a, b) => a[1] - b[1]);
        expect(popped.map((p) => ref.get(p))).toEqual(expected.map(([, t]) => t));
        expect(new Set(popped)).toEqual(new Set(expected.map(([i]) => i)));
        for (const p of popped) ref.delete(p);
      }
      expect(q.size).toBe(ref.size);
      expect(q.peekAt()).toBe(ref.size ? Math.min(...ref.values()) : Infinity);
    }
  });

  it('grows for far ids and many slots, and refuses an id that is not a whole number ≥ 0', () => {
    const q = new DueQueue();
    for (let id = 0; id < 1_000; id++) q.set(id * 397, 1_000 - id);
    expect(q.size).toBe(1_000);
    expect(q.at(999 * 397)).toBe(1);
    expect(q.popDue(2)).toEqual([999 * 397, 998 * 397]);
    expect(q.at(5)).toBeNull();
    for (const bad of [-1, 1.5, Number.NaN]) expect(() => q.set(bad, 0)).toThrow(/out of range/);
    expect(q.size).toBe(998);
  });
});
