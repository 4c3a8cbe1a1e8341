import { describe, expect, it } from 'vitest';

import type { ConnectionFacts, ConnectionRecord } from '../store/types.js';
import { PlanRows } from './plan-rows.js';
import { planRow } from './schedule-plan.js';

const T = 1_767_225_600_000; // epoch ms, beyond 32-bit integers
const CAUSE = { id: 'revoked', summary: 'The grant was revoked.', fix: 'Authorize again.' };
const LIFETIME = { deathAges: [604_800_000], lifetimeMs: 604_800_000, cause: null, learnedAt: T };

function record(over: Partial<ConnectionRecord> = {}): ConnectionRecord {
  return {
    name: 'gmail',
    state: 'healthy',
    version: 7,
    accessToken: 'at',
    refreshToken: 'rt',
    idToken: null,
    tokenType: 'bearer',
    scope: null,
    account: null,
    accessExpiresAt: T + 3_600_000,
    grantedAt: T - 86_400_000,
    refreshExpiresAt: null,
    lastRefreshAt: T,
    lastUsedAt: null,
    cause: null,
    lifetime: null,
    failureCount: 0,
    nextAttemptAt: null,
    lastError: null,
    leaseOwner: null,
    leaseUntil: null,
    createdAt: T,
    updatedAt: T,
    ...over,
  };
}

describe('PlanRows', () => {
  it('gives back what planRow would make of a full row or of the secret-free facts', () => {
    const rows = new PlanRows(3);
    const full = record({ state: 'degraded', nextAttemptAt: T + 5, refreshExpiresAt: T + 9, cause: CAUSE });
    const {
      accessToken: _a,
      refreshToken: _r,
      idToken: _i,
      ...rest
    } = record({
      accessToken: null,
      lifetime: LIFETIME,
      grantedAt: null,
    });
    const facts: ConnectionFacts = { ...rest, hasAccessToken: false, hasRefreshToken: true };
    rows.set(0, full);
    rows.set(2, facts);
    expect(rows.get(0)).toEqual({ ...planRow(full), lifetime: null });
    expect(rows.get(2)).toEqual(planRow(facts));
    expect(rows.get(1)).toBeNull();
    expect([rows.version(0), rows.version(1), rows.causeId(0), rows.causeId(2)]).toEqual([7, null, 'revoked', null]);
  });

  it('forgets a deleted row and the previous row’s cause and lifetime on every set', () => {
    const rows = new PlanRows(1);
    rows.set(0, record({ cause: CAUSE, lifetime: LIFETIME }));
    rows.set(0, record({ version: 8 }));
    expect(rows.get(0)).toMatchObject({ version: 8, causeId: null, lifetime: null });
    rows.set(0, null);
    expect([rows.has(0), rows.get(0), rows.version(0)]).toEqual([false, null, null]);
  });

  it('keeps a state it does not know (written by a newer tokenwarden) as it is', () => {
    const rows = new PlanRows(1);
    rows.set(0, record({ state: 'hibernating' as ConnectionRecord['state'] }));
    expect(rows.get(0)?.state).toBe('hibernating');
  });
});
