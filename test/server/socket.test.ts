/**
 * API auth over a real socket (@hono/node-server on 127.0.0.1:0): the bearer key is checked
 * per request, first; repeated wrong keys from one address are answered 429 with Retry-After
 * while the right key keeps working. */
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/core/clock.js';
import { API_KEY, startHarness, type Harness } from './harness.js';

let h: Harness;
let server: ServerType;
let base: string;
const clock = new FakeClock(Date.now());

beforeAll(async () => {
  h = await startHarness({ ctx: { clock } });
  await new Promise<void>((resolve) => {
    server = serve({ fetch: h.app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve());
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((r) => server?.close(r));
  await h?.close();
});

const get = (key: string | null): Promise<Response> =>
  fetch(`${base}/api/v1/connections`, key === null ? {} : { headers: { authorization: `Bearer ${key}` } });

describe('API auth over a socket', () => {
  it('accepts the key, refuses others, then slows a guesser down with 429 + Retry-After', async () => {
    expect((await get(API_KEY)).status).toBe(200);
    expect((await get(null)).status).toBe(401);
    for (let i = 0; i < 9; i++) expect((await get(`guess-${i}`)).status).toBe(401);
    // Ten failures spent this address's budget: further wrong keys are answered 429.
    const limited = await get('guess-10');
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await limited.json()) as { error: { code: string } }).error.code).toBe('TW_RATE_LIMITED');
    // The right key is checked first: never refused for someone else's guesses.
    expect((await get(API_KEY)).status).toBe(200);
    // Healthz and metrics are not behind the API key.
    expect((await fetch(`${base}/healthz`)).status).toBe(200);

    await clock.advance(61_000);
    expect((await get('guess-11')).status).toBe(401);
    const ok = await get(API_KEY);
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { connections: Array<{ name: string }> }).connections[0]?.name).toBe('sandbox');
  });

  it('the token route works over the socket for any HTTP client', async () => {
    await h.authorize();
    const res = await fetch(`${base}/api/v1/connections/sandbox/token`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}` },
    });
    expect(res.status).toBe(200);
    const { access_token } = (await res.json()) as { access_token: string };
    expect((await h.peer.introspect(access_token)).active).toBe(true);
  });
});
