import { describe, expect, it } from 'vitest';
import { planConnection, type PlanInput, type PlanRow } from './schedule-plan.js';

const NOW = 1_000_000_000;
const HOUR = 3_600_000;

const healthy: PlanRow = {
  version: 3,
  state: 'healthy',
  hasAccessToken: true,
  hasRefreshToken: true,
  accessExpiresAt: NOW + HOUR,
  lastRefreshAt: NOW,
  nextAttemptAt: null,
  refreshExpiresAt: null,
  grantedAt: NOW - HOUR,
  causeId: null,
};

const input = (over: Partial<PlanInput> = {}): PlanInput => ({
  now: NOW,
  kind: 'oauth',
  row: healthy,
  flow: null,
  need: null,
  followUpAt: null,
  renewalAt: null,
  probeAt: null,
  ...over,
});

describe('planConnection', () => {
  it('a fresh token: nothing due, refresh lane 5 min before expiry (1 h token)', () => {
    expect(planConnection(input())).toEqual({
      due: [],
      lanes: { refresh: NOW + HOUR - 300_000, probe: null, human: null, flow: null },
      nextAt: NOW + HOUR - 300_000,
    });
  });

  it.each<[string, Partial<PlanInput>, string[]]>([
    ['within the refresh margin', { now: NOW + HOUR - 1_000 }, ['refresh']],
    ['no access token but a refresh token', { row: { ...healthy, hasAccessToken: false } }, ['refresh']],
    [
      'oauth with neither token: nothing to refresh with',
      { row: { ...healthy, hasAccessToken: false, hasRefreshToken: false } },
      [],
    ],
    [
      'client_credentials with no token',
      { kind: 'client_credentials', row: { ...healthy, hasAccessToken: false, hasRefreshToken: false } },
      ['refresh'],
    ],
    ['static connections are never planned', { kind: 'static', now: NOW + 2 * HOUR, need: 'dead' }, []],
    ['a probe that is due', { probeAt: NOW }, ['probe']],
    ['dead and not asked yet', { row: { ...healthy, state: 'reauth_required' }, need: 'dead' }, ['ask']],
    [
      'unauthorized (signed out): not asked by the scheduler',
      { row: { ...healthy, state: 'unauthorized' }, need: 'dead' },
      [],
    ],
    ['predicted death reached', { need: 'predicted' }, ['renew']],
    [
      'predicted, flow open, still healthy',
      { need: 'predicted', flow: { id: 'f' }, followUpAt: NOW + 1 },
      ['mark_expiring'],
    ],
    [
      'flow follow-up due',
      { need: 'dead', row: { ...healthy, state: 'awaiting_human' }, flow: { id: 'f' }, followUpAt: NOW },
      ['follow_up'],
    ],
  ])('%s → %j', (_, over, due) => {
    expect(planConnection(input(over)).due).toEqual(due);
  });

  it('dead connections do not refresh or probe', () => {
    const p = planConnection(input({ row: { ...healthy, state: 'awaiting_human' }, need: 'dead', probeAt: NOW }));
    expect(p.due).toEqual(['ask']);
    expect(p.lanes.refresh).toBeNull();
  });

  it('degraded: the refresh waits for the backoff (nextAttemptAt)', () => {
    const row: PlanRow = {
      ...healthy,
      state: 'degraded',
      accessExpiresAt: NOW + 60_000,
      lastRefreshAt: NOW - HOUR,
      nextAttemptAt: NOW + 30_000,
    };
    expect(planConnection(input({ row }))).toMatchObject({ due: [], lanes: { refresh: NOW + 30_000 } });
  });

  it('each lane carries its own next time; a past renewal time with no need plans nothing', () => {
    const p = planConnection(input({ renewalAt: NOW + 10 * HOUR, probeAt: NOW + 60_000, flow: null }));
    expect(p.lanes).toEqual({ refresh: NOW + HOUR - 300_000, probe: NOW + 60_000, human: NOW + 10 * HOUR, flow: null });
    expect(p.nextAt).toBe(NOW + 60_000);
    expect(planConnection(input({ renewalAt: NOW - 1 })).lanes.human).toBeNull();
    const withFlow = planConnection(
      input({
        need: 'dead',
        row: { ...healthy, state: 'awaiting_human' },
        flow: { id: 'f' },
        followUpAt: NOW + 600_000,
      }),
    );
    expect(withFlow.lanes.flow).toBe(NOW + 600_000);
  });
});
