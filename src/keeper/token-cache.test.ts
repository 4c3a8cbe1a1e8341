import { describe, expect, it } from 'vitest';
import { TokenCache } from './token-cache.js';

describe('TokenCache', () => {
  it('serves a token until its refresh time, then not; null times mean never due', () => {
    const c = new TokenCache();
    expect(c.fresh(0, 0)).toBe(-1);
    c.set(0, 'tok-a', 'Bearer', 2_000, 1_500);
    c.set(1, 'tok-b', 'MAC', null, null);
    expect(c.fresh(0, 1_499)).toBe(0);
    expect([c.token(0), c.tokenType(0), c.expiresAt(0)]).toEqual(['tok-a', 'Bearer', 2_000]);
    expect(c.fresh(0, 1_500)).toBe(-1);
    expect(c.fresh(1, Number.MAX_SAFE_INTEGER)).toBe(1);
    expect([c.token(1), c.tokenType(1), c.expiresAt(1)]).toEqual(['tok-b', 'MAC', null]);
  });

  it('replaces a token in place, forgets on delete, and grows past its first capacity', () => {
    const c = new TokenCache();
    c.set(999, 't999', 'Bearer', 10_999, 5_999);
    for (let i = 0; i < 999; i++) c.set(i, `t${i}`, 'Bearer', 10_000 + i, 5_000 + i);
    for (let i = 0; i < 1_000; i += 97) expect(c.token(c.fresh(i, 0))).toBe(`t${i}`);
    expect(c.expiresAt(c.fresh(999, 0))).toBe(10_999);
    c.set(5, 'new', 'Bearer', 20_000, 19_000);
    expect(c.token(c.fresh(5, 18_000))).toBe('new');
    c.delete(5);
    expect(c.fresh(5, 0)).toBe(-1);
    expect(c.token(c.fresh(6, 0))).toBe('t6');
    c.delete(5_000);
    expect(c.fresh(5_000, 0)).toBe(-1);
  });
});
