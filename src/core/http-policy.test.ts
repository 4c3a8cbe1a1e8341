import { describe, expect, it } from 'vitest';
import { MAX_RETRY_AFTER_MS, backoffMs, isTransientStatus, parseHttpDate, parseRetryAfter } from './http-policy.js';

const NOW = Date.parse('2026-10-21T07:28:00Z');

describe('parseRetryAfter', () => {
  it.each([
    ['120', 120_000],
    [' 0 ', 0],
    ['Wed, 21 Oct 2026 07:28:30 GMT', 30_000],
    ['Wednesday, 21-Oct-26 07:29:00 GMT', 60_000],
    ['Wed Oct 21 07:30:00 2026', 120_000],
    ['Wed Oct  1 07:28:00 2026', 0],
  ])('%j → %j ms', (value, ms) => {
    expect(parseRetryAfter(value, NOW)).toBe(ms);
  });

  it('a date in the past means retry now', () => {
    expect(parseRetryAfter('Wed, 21 Oct 2026 07:00:00 GMT', NOW)).toBe(0);
    expect(parseRetryAfter('Sun, 06 Nov 1994 08:49:37 GMT', NOW)).toBe(0);
  });

  it('huge values are capped (default one day, or the caller’s cap)', () => {
    expect(parseRetryAfter('86401', NOW)).toBe(MAX_RETRY_AFTER_MS);
    expect(parseRetryAfter('9'.repeat(400), NOW)).toBe(MAX_RETRY_AFTER_MS);
    expect(parseRetryAfter('Fri, 31 Dec 9999 23:59:59 GMT', NOW)).toBe(MAX_RETRY_AFTER_MS);
    expect(parseRetryAfter('3600', NOW, 60_000)).toBe(60_000);
    expect(parseRetryAfter('86400', NOW)).toBe(86_400_000);
  });

  it.each([
    null,
    undefined,
    '',
    '   ',
    'soon',
    '-5',
    '1.5',
    '1e3',
    '0x10',
    '120 seconds',
    'Tuesday 5',
    '2026-10-21T07:30:00Z',
    'Wed, 21 Oct 2026 07:28:30 UTC',
    'Wed, 31 Feb 2026 07:28:30 GMT',
    'Wed, 21 Oct 2026 25:00:00 GMT',
    'Xyz, 21 Oct 2026 07:28:30 GMT',
    'Wed, 21 Foo 2026 07:28:30 GMT',
  ])('garbage %j → undefined', (value) => {
    expect(parseRetryAfter(value, NOW)).toBeUndefined();
  });
});

describe('parseHttpDate', () => {
  it('reads the three forms of RFC 9110 §5.6.7 as the same instant', () => {
    const at = Date.UTC(1994, 10, 6, 8, 49, 37);
    const then = Date.UTC(2000, 0, 1);
    expect(parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT', then)).toBe(at);
    expect(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT', then)).toBe(at);
    expect(parseHttpDate('Sun Nov  6 08:49:37 1994', then)).toBe(at);
  });

  it('a two-digit year more than 50 years ahead is in the past century', () => {
    expect(parseHttpDate('Monday, 01-Jan-80 00:00:00 GMT', NOW)).toBe(Date.UTC(1980, 0, 1));
    expect(parseHttpDate('Monday, 01-Jan-30 00:00:00 GMT', NOW)).toBe(Date.UTC(2030, 0, 1));
  });
});

describe('isTransientStatus', () => {
  it.each([408, 425, 429, 500, 501, 502, 503, 504, 599])('%i is transient', (s) => {
    expect(isTransientStatus(s)).toBe(true);
  });
  it.each([200, 204, 301, 400, 401, 403, 404, 409, 422, 600])('%i is not', (s) => {
    expect(isTransientStatus(s)).toBe(false);
  });
});

describe('backoffMs', () => {
  it('doubles from the base up to the cap, jittered within the range', () => {
    const o = { baseMs: 1_000, capMs: 60_000 };
    expect(backoffMs({ ...o, attempt: 1, random: 0 })).toBe(500);
    expect(backoffMs({ ...o, attempt: 1, random: 0.5 })).toBe(750);
    expect(backoffMs({ ...o, attempt: 3, random: 0, jitter: [1, 1.2] })).toBe(4_000);
    expect(backoffMs({ ...o, attempt: 3, random: 0.5, jitter: [1, 1.2] })).toBeCloseTo(4_400);
    expect(backoffMs({ ...o, attempt: 0, random: 0, jitter: [1, 1] })).toBe(1_000);
    expect(backoffMs({ ...o, attempt: 10_000, random: 0, jitter: [1, 1] })).toBe(60_000);
  });

  it('is never shorter than Retry-After', () => {
    expect(backoffMs({ attempt: 1, baseMs: 1_000, capMs: 60_000, random: 1, retryAfterMs: 90_000 })).toBe(90_000);
    expect(backoffMs({ attempt: 1, baseMs: 1_000, capMs: 60_000, random: 0, retryAfterMs: 100 })).toBe(500);
  });
});
