/**
 * `/metrics` above FULL_DETAIL_MAX connections: one state series per connection (its current
 * state) instead of one per (connection, state), and refresh counters that appear with their
 * first event instead of three zero series per connection — bounded memory and scrape size at
 * 100,000 connections (bench/serve-memory.ts). Below the limit: tests/server/metrics.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FULL_DETAIL_MAX } from '../../src/server/metrics-registry.js';
import { startHarness, type Harness } from './harness.js';
import { partsOf } from '../../src/warden.js';

const EXTRA = FULL_DETAIL_MAX + 1;
let h: Harness;

beforeAll(async () => {
  h = await startHarness({
    extraConnections: async (peer, redirectUri) => {
      const all: Record<string, unknown> = {};
      for (let i = 0; i < EXTRA; i++)
        all[`bulk${i}`] = {
          provider: 'oidc',
          issuer: peer.issuer,
          client_id: peer.clientId,
          client_secret: peer.clientSecret,
          redirect_uri: redirectUri,
          scopes: ['openid', 'offline_access'],
        };
      return Promise.resolve(all);
    },
  });
});

afterAll(async () => {
  await h?.close();
});

const series = (text: string, name: string): string[] => text.split('\n').filter((l) => l.startsWith(`${name}{`));

describe('/metrics with more than FULL_DETAIL_MAX connections', () => {
  it('exports each connection once, in its current state, and counters only once they count', async () => {
    let text = await (await h.app.request('/metrics')).text();
    const states = series(text, 'tokenwarden_connection_state');
    expect(states).toHaveLength(EXTRA + 1);
    expect(states).toContain('tokenwarden_connection_state{connection="bulk7",state="unauthorized"} 1');
    expect(states.every((l) => l.endsWith(' 1'))).toBe(true);
    expect(series(text, 'tokenwarden_refresh_total')).toEqual([]);

    await h.authorize();
    await partsOf(h.warden).keeper.forceRefresh('sandbox');
    text = await (await h.app.request('/metrics')).text();
    expect(series(text, 'tokenwarden_connection_state')).toContain(
      'tokenwarden_connection_state{connection="sandbox",state="healthy"} 1',
    );
    expect(series(text, 'tokenwarden_refresh_total')).toEqual([
      'tokenwarden_refresh_total{connection="sandbox",outcome="success"} 1',
    ]);
  });
});
