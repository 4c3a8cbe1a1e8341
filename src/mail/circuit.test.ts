import { describe, expect, it } from 'vitest';
import { FakeClock } from '../core/clock.js';
import { CircuitBreaker } from './circuit.js';

describe('CircuitBreaker', () => {
  it('opens on auth failure, half-opens after the cool-down, closes on success', async () => {
    const clock = new FakeClock();
    const c = new CircuitBreaker(clock, { coolDownMs: 1000 });
    expect(c.allows()).toBe(true);
    expect(c.recordAuthFailure('401')).toBe('opened');
    expect(c.state).toBe('open');
    expect(c.allows()).toBe(false);
    await clock.advance(999);
    expect(c.allows()).toBe(false);
    await clock.advance(1);
    expect(c.state).toBe('half_open');
    expect(c.allows()).toBe(true);
    expect(c.recordSuccess()).toBe('closed');
    expect(c.snapshot()).toMatchObject({ state: 'closed', reason: null, consecutiveAuthFailures: 0 });
  });

  it('doubles the cool-down on repeated auth failures, capped', async () => {
    const clock = new FakeClock();
    const c = new CircuitBreaker(clock, { coolDownMs: 1000, maxCoolDownMs: 3000 });
    c.recordAuthFailure('a');
    await clock.advance(1000);
    expect(c.state).toBe('half_open');
    expect(c.recordAuthFailure('b')).toBeNull();
    await clock.advance(1999);
    expect(c.state).toBe('open');
    await clock.advance(1);
    expect(c.state).toBe('half_open');
    c.recordAuthFailure('c');
    await clock.advance(2999);
    expect(c.state).toBe('open');
    await clock.advance(1);
    expect(c.state).toBe('half_open');
  });

  it.each([[undefined], [0]])('transient failure (retry-after %s) keeps it closed and usable', (ra) => {
    const c = new CircuitBreaker(new FakeClock());
    c.recordTransient(ra);
    expect(c.state).toBe('closed');
    expect(c.allows()).toBe(true);
  });

  it('Retry-After parks a closed route until then', async () => {
    const clock = new FakeClock();
    const c = new CircuitBreaker(clock);
    c.recordTransient(5000);
    expect(c.state).toBe('closed');
    expect(c.allows()).toBe(false);
    await clock.advance(5000);
    expect(c.allows()).toBe(true);
  });

  it('forceOpen opens once; halfOpenNow lets the next attempt through', () => {
    const c = new CircuitBreaker(new FakeClock(), { coolDownMs: 60_000 });
    expect(c.forceOpen('reauth_required')).toBe('opened');
    expect(c.forceOpen('reauth_required')).toBeNull();
    expect(c.allows()).toBe(false);
    expect(c.halfOpenNow()).toBe('half_opened');
    expect(c.allows()).toBe(true);
  });
});
