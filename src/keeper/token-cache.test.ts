import { describe, expect, it } from 'vitest';
import { TokenCache } from './token-cache.js';

describe('TokenCache', () => {
  it('serves a token until its refresh time, then not; null times mean never due', () => {
    const c = new TokenCache();
    expect(c.fresh('a', 0)).toBe(-1);
    c.set('a', 'tok-a', 'Bearer', 2_000, 1_500);
    c.set('b', 'tok-b', 'MAC', null, null);
    const a = c.fresh('a', 1_499);
    expect(a).toBeGreaterThanOrEqual(0);
    expect([c.token(a), c.tokenType(a), c.expiresAt(a)]).toEqual(['tok-a', 'Bearer', 2_000]);
    expect(c.fresh('a', 1_500)).toBe(-1);
    const b = c.fresh('b', Number.MAX_SAFE_INTEGER);
    expect([c.token(b), c.tokenType(b), c.expiresAt(b)]).toEqual(['tok-b', 'MAC', null]);
  });

  it('replaces a token in place, forgets on delete, and grows past its first capacity', () => {
    const c = new TokenCache();
    for (let i = 0; i < 1_000; i++) c.set(`c${i}`, `t${i}`, 'Bearer', 10_000 + i, 5_000 + i);
    for (let i = 0; i < 1_000; i += 97) expect(c.token(c.fresh(`c${i}`, 0))).toBe(`t${i}`);
    expect(c.expiresAt(c.fresh('c999', 0))).toBe(10_999);
    c.set('c5', 'new', 'Bearer', 20_000, 19_000);
    expect(c.token(c.fresh('c5', 18_000))).toBe('new');
    c.delete('c5');
    expect(c.fresh('c5', 0)).toBe(-1);
    expect(c.token(c.fresh('c6', 0))).toBe('t6');
    c.delete('never-seen');
  });
});
