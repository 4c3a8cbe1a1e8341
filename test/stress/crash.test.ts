/**
 * Crash safety, small version of bench/crash.ts (which does ≥ 500 kills): real child processes
 * refreshing with rotation and delivering the outbox on one SQLite store are killed with SIGKILL
 * at random instants; the grant must still work afterwards (outside the measured window between
 * the provider's answer and the commit) and no acknowledged mail may be lost.
 */
import { describe, expect, it } from 'vitest';
import { runCrash } from '../../bench/crash-run.js';

describe('kill -9 at random instants', () => {
  it('loses no credential outside the answer→commit window and no acknowledged mail', async () => {
    const r = await runCrash({ refreshKills: 4, flowKills: 0, mailKills: 3, minDelayMs: 300, maxDelayMs: 900 });
    expect(r.kills).toBe(7);
    expect(r.refresh.lostOutsideWindow).toBe(0);
    // Workers did refresh with rotation before dying, and the window was measured.
    expect(r.refresh.windowMs.samples).toBeGreaterThan(0);
    expect(r.refresh.windowMs.max).toBeLessThan(1_000);
    expect(r.mail.acknowledged).toBeGreaterThan(0);
    expect(r.mail.lost).toBe(0);
    expect(r.mail.delivered).toBeGreaterThanOrEqual(r.mail.acknowledged);
  }, 120_000);
});
