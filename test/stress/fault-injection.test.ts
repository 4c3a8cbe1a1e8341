/**
 * Fault injection, small version of bench/fault-injection.ts: the fault proxy between the keeper
 * and a real oidc-provider with rotation. Target for every mode: no false reauth_required, no
 * expired token served, no request before a Retry-After has passed, healthy again after the
 * fault clears (within the 5-minute backoff cap).
 */
import { describe, expect, it } from 'vitest';
import { runFaults } from '../../bench/fault-run.js';

describe('faults between tokenwarden and the token endpoint', () => {
  it('5xx, 429 + Retry-After, timeout, reset, HTML, malformed JSON: degraded, never reauth_required, recovers', async () => {
    const results = await runFaults(
      [
        { mode: 'http500' },
        { mode: 'http429', opts: { retryAfterSeconds: 120 } },
        { mode: 'http503', opts: { retryAfter: 'HTTP-DATE' } },
        { mode: 'timeout' },
        { mode: 'reset' },
        { mode: 'html' },
        { mode: 'malformed_json' },
      ],
      { faultMs: 4 * 60_000, stepMs: 10_000 },
    );
    for (const r of results) {
      expect(r, r.mode).toMatchObject({
        falseReauthRequired: 0,
        expiredTokensServed: 0,
        retryAfterViolations: 0,
        finalState: 'healthy',
      });
      expect(r.requestsDuringFault, r.mode).toBeGreaterThan(0); // the fault was really hit
      expect(r.unavailableAnswers, r.mode).toBeGreaterThan(0); // and callers were told, not fed an expired token
      expect(r.recoveryMs, r.mode).not.toBeNull();
      expect(r.recoveryMs as number, r.mode).toBeLessThanOrEqual(5 * 60_000 + 1_000);
    }
    // Retry-After of 120 s: at most one request per 120 s during the 4-minute fault (+ the first).
    const ra = results.find((r) => r.mode.startsWith('http429'));
    expect(ra?.requestsDuringFault).toBeLessThanOrEqual(3);
  }, 90_000);
});
