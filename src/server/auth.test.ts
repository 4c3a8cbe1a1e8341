import { describe, expect, it } from 'vitest';
import { FakeClock } from '../core/clock.js';
import { FailureBudget } from './auth.js';

describe('FailureBudget', () => {
  const spec = { perClient: { burst: 3, refillMs: 1_000 }, global: { burst: 5, refillMs: 500 } };

  it('allows a burst per client, then refuses with the wait until the next token', async () => {
    const clock = new FakeClock(0);
    const b = new FailureBudget(clock, spec);
    expect([b.spend('a'), b.spend('a'), b.spend('a')]).toEqual([0, 0, 0]);
    expect(b.spend('a')).toBe(1_000);
    await clock.advance(400);
    expect(b.spend('a')).toBe(600);
    await clock.advance(600);
    expect(b.spend('a')).toBe(0);
    expect(b.spend('a')).toBe(1_000);
  });

  it('the shared bucket limits all clients together; refused attempts spend nothing', async () => {
    const clock = new FakeClock(0);
    const b = new FailureBudget(clock, spec);
    for (const c of ['a', 'b', 'c', 'd', 'e']) expect(b.spend(c)).toBe(0);
    expect(b.spend('f')).toBe(500);
    expect(b.spend('g')).toBe(500);
    await clock.advance(500);
    expect(b.spend('h')).toBe(0);
    expect(b.spend('i')).toBe(500);
  });

  it('refills to the burst and no further', async () => {
    const clock = new FakeClock(0);
    const b = new FailureBudget(clock, spec);
    b.spend('a');
    await clock.advance(3_600_000);
    expect([b.spend('a'), b.spend('a'), b.spend('a')]).toEqual([0, 0, 0]);
    expect(b.spend('a')).toBeGreaterThan(0);
  });

  it('tracks a bounded number of clients (the oldest forgotten)', () => {
    const clock = new FakeClock(0);
    const b = new FailureBudget(clock, { ...spec, global: { burst: 1_000, refillMs: 1 }, maxTracked: 2 });
    b.spend('a');
    b.spend('a');
    b.spend('a');
    expect(b.spend('a')).toBeGreaterThan(0);
    b.spend('b');
    b.spend('c');
    // 'a' was dropped: a fresh bucket (the shared one still bounds what that buys).
    expect(b.spend('a')).toBe(0);
  });
});
