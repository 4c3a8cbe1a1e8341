import { describe, expect, it } from 'vitest';
import { FakeClock } from '../core/clock.js';
import { TokenwardenError } from '../core/errors.js';
import { ALLOWED_RECIPIENT_RE, parseSendRate, recipientsNotAllowed, SendLimiter } from './send-policy.js';

describe('MCP send policy', () => {
  it('parses COUNT/PERIOD and refuses anything else', () => {
    expect(parseSendRate('20/min')).toEqual({ count: 20, windowMs: 60_000 });
    expect(parseSendRate('100/h')).toEqual({ count: 100, windowMs: 3_600_000 });
    expect(parseSendRate('5/10m')).toEqual({ count: 5, windowMs: 600_000 });
    expect(parseSendRate('0/day')).toEqual({ count: 0, windowMs: 86_400_000 });
    for (const bad of ['20', 'min', '20/', '20/0s', '-1/min', '20/fortnight', '1e3/min'])
      expect(parseSendRate(bad)).toBeNull();
  });

  it('admits listed addresses and whole domains only (no subdomains), case-insensitively', () => {
    const allowed = ['@Example.org', 'boss@partner.net'];
    expect(recipientsNotAllowed(allowed, ['a@example.org', 'BOSS@partner.net'])).toEqual([]);
    expect(recipientsNotAllowed(allowed, ['x@sub.example.org', 'other@partner.net', 'x@sub.example.org'])).toEqual([
      'x@sub.example.org',
      'other@partner.net',
    ]);
    expect(ALLOWED_RECIPIENT_RE.test('@example.org')).toBe(true);
    expect(ALLOWED_RECIPIENT_RE.test('bob@example.org')).toBe(true);
    expect(ALLOWED_RECIPIENT_RE.test('example.org')).toBe(false);
    expect(ALLOWED_RECIPIENT_RE.test('@')).toBe(false);
  });

  it('limits per mailbox over a sliding window and says when the next send is allowed', async () => {
    const clock = new FakeClock();
    const l = new SendLimiter({ count: 2, windowMs: 60_000 }, () => clock.now());
    l.take('a');
    await clock.advance(30_000);
    l.take('a');
    l.take('b'); // another mailbox has its own budget
    expect(() => l.take('a')).toThrow(/limited to 2 messages per minute for mailbox a .*next one is allowed in 30 s/);
    await clock.advance(30_001);
    expect(() => l.take('a')).not.toThrow();
    const off = new SendLimiter({ count: 0, windowMs: 60_000 }, () => clock.now());
    const err = (() => {
      try {
        off.take('a');
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(TokenwardenError);
    expect((err as TokenwardenError).code).toBe('TW_RATE_LIMITED');
    expect((err as Error).message).toMatch(/switched off/);
  });
});
