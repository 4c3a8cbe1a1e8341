import { describe, expect, it } from 'vitest';
import { backoffDelay, isDefinitiveOAuthError, isUsable, refreshMargin, shouldRefresh } from './refresh-policy.js';

describe('refresh policy', () => {
  it.each([
    [3_600_000, 300_000], // 1 h token: 10% = 6 min, capped at 5 min
    [600_000, 60_000], // 10 min: max(60 s, min(60 s, 150 s)) = 60 s
    [60_000, 15_000], // 1 min: 25%
    [5_000, 1_250], // 5 s test tokens: 25%
    [0, 0],
  ])('margin for a %i ms lifetime is %i ms', (lifetime, margin) => {
    expect(refreshMargin(lifetime)).toBe(margin);
  });

  it.each([
    [{ now: 0, hasAccessToken: false, accessExpiresAt: null, obtainedAt: null }, true, 'no_token'],
    [{ now: 100, hasAccessToken: true, accessExpiresAt: null, obtainedAt: 0 }, false, 'no_expiry'],
    [{ now: 1_000, hasAccessToken: true, accessExpiresAt: 60_000, obtainedAt: 0 }, false, 'fresh'],
    [{ now: 46_000, hasAccessToken: true, accessExpiresAt: 60_000, obtainedAt: 0 }, true, 'within_margin'],
    [{ now: 60_000, hasAccessToken: true, accessExpiresAt: 60_000, obtainedAt: 0 }, true, 'expired'],
  ])('shouldRefresh(%o) → %s (%s)', (facts, should, reason) => {
    expect(shouldRefresh(facts)).toMatchObject({ should, reason });
  });

  it('backoff grows, is capped, jitters, and never undercuts Retry-After', () => {
    expect(backoffDelay(1, undefined, 0)).toBe(500);
    expect(backoffDelay(1, undefined, 0.999)).toBeCloseTo(999.5);
    expect(backoffDelay(4, undefined, 1)).toBe(8_000);
    expect(backoffDelay(30, undefined, 1)).toBe(300_000);
    expect(backoffDelay(1, 120_000, 0.5)).toBe(120_000);
    expect(backoffDelay(30, undefined, 1, 60_000)).toBe(60_000);
    expect(backoffDelay(30, 120_000, 1, 60_000)).toBe(120_000);
  });

  it('only definitive OAuth errors are definitive', () => {
    expect(isDefinitiveOAuthError('invalid_grant')).toBe(true);
    expect(isDefinitiveOAuthError('bad_refresh_token')).toBe(true);
    expect(isDefinitiveOAuthError('server_error')).toBe(false);
    expect(isDefinitiveOAuthError('temporarily_unavailable')).toBe(false);
    expect(isDefinitiveOAuthError('slow_down')).toBe(false);
  });

  it('isUsable allows a small clock skew', () => {
    expect(isUsable(0, null)).toBe(true);
    expect(isUsable(8_000, 10_000)).toBe(true);
    expect(isUsable(9_500, 10_000)).toBe(false);
  });
});
