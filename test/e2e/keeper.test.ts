/**
 * The keeper against a real oidc-provider with rotation, time compressed by a FakeClock:
 * refresh ahead of expiry, rotation persisted over many cycles, in-process single-flight,
 * transient failures (5xx, 429 with Retry-After, timeouts, resets, HTML) → degraded while the
 * unexpired token is served — never reauth_required — and a definitive refusal → diagnosed cause.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/core/clock.js';
import { ReauthRequiredError, TransientError } from '../../src/core/errors.js';
import { generateKey } from '../../src/store/key.js';
import { openWarden, type Warden, partsOf } from '../../src/warden.js';
import { startFaultProxy, type FaultProxy } from '../peers/fault-proxy.js';
import { startOidcProvider, type OidcPeer } from '../peers/oidc-provider.js';
import { sandboxConnection } from '../helpers/sandbox.js';

const REDIRECT = 'http://127.0.0.1:1/oauth/callback';
let peer: OidcPeer;
let proxy: FaultProxy;
let dir: string;
const env = { TW_KEY: generateKey().toString('base64') };
const opened: Warden[] = [];

/** fetch with a short timeout so the `timeout` fault is seen quickly. */
const quickFetch: typeof fetch = (url, init) =>
  fetch(url, {
    ...init,
    signal: init?.signal ? AbortSignal.any([init.signal, AbortSignal.timeout(500)]) : AbortSignal.timeout(500),
  });

async function open(clock: FakeClock, db: string, viaProxy = false): Promise<Warden> {
  const w = await openWarden({
    config: {
      store: `sqlite:${db}`,
      key: 'env:TW_KEY',
      connections: {
        sandbox: sandboxConnection(peer, REDIRECT, viaProxy ? { token_url: `${proxy.url}/token` } : {}),
      },
    },
    baseDir: dir,
    env,
    clock,
    fetch: quickFetch,
  });
  opened.push(w);
  return w;
}

async function authorize(w: Warden): Promise<void> {
  const flow = await partsOf(w).flows.open('sandbox');
  const finalUrl = await peer.approveAuthorization(flow.url);
  await partsOf(w).flows.completeFromInput(finalUrl, { via: 'test' });
}

beforeAll(async () => {
  peer = await startOidcProvider({ redirectUris: [REDIRECT], accessTokenTtl: 60, refreshTokenTtl: 3600 });
  proxy = await startFaultProxy(peer.issuer);
  dir = mkdtempSync(join(tmpdir(), 'tw-keeper-'));
});

afterEach(async () => {
  for (const w of opened.splice(0)) await w.close();
  proxy.setMode('pass');
});

afterAll(async () => {
  await proxy?.stop();
  await peer?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('keeper with rotation', () => {
  it('refreshes ahead of expiry and persists every rotated refresh token over many cycles', async () => {
    const clock = new FakeClock(Date.now());
    const w = await open(clock, join(dir, 'cycles.db'));
    await authorize(w);
    const first = await w.accessToken('sandbox');
    expect(await w.accessToken('sandbox')).toBe(first); // cached: no refresh
    const before = peer.tokenRequests('refresh_token');
    let lastRefresh = (await partsOf(w).store.getConnection('sandbox'))?.refreshToken;
    let lastAccess = first;
    const cycles = 25;
    for (let i = 0; i < cycles; i++) {
      await clock.advance(55_000); // inside the 15 s margin of a 60 s token
      const t = await w.accessToken('sandbox');
      expect(t).not.toBe(lastAccess);
      const row = await partsOf(w).store.getConnection('sandbox');
      expect(row?.refreshToken).toBeTruthy();
      expect(row?.refreshToken).not.toBe(lastRefresh); // rotated and stored
      expect(row?.state).toBe('healthy');
      lastRefresh = row?.refreshToken;
      lastAccess = t;
    }
    expect(peer.tokenRequests('refresh_token') - before).toBe(cycles);
    expect(peer.tokenErrors().filter((e) => e.grantType === 'refresh_token')).toEqual([]);
  });

  it('collapses concurrent callers at expiry into one refresh (in-process single flight)', async () => {
    const clock = new FakeClock(Date.now());
    const w = await open(clock, join(dir, 'single.db'));
    await authorize(w);
    await w.accessToken('sandbox');
    await clock.advance(61_000);
    const before = peer.tokenRequests('refresh_token');
    const tokens = await Promise.all(Array.from({ length: 20 }, () => w.accessToken('sandbox')));
    expect(new Set(tokens).size).toBe(1);
    expect(peer.tokenRequests('refresh_token') - before).toBe(1);
  });

  it.each(['http500', 'http503', 'timeout', 'reset', 'html', 'malformed_json'] as const)(
    'a %s from the token endpoint → degraded, the unexpired token is served, never reauth_required',
    async (mode) => {
      const clock = new FakeClock(Date.now());
      const w = await open(clock, join(dir, `fault-${mode}.db`), true);
      await authorize(w);
      const token = await w.accessToken('sandbox');
      proxy.setMode(mode);
      await clock.advance(50_000); // within the margin, not yet expired
      expect(await w.accessToken('sandbox')).toBe(token);
      const row = await partsOf(w).store.getConnection('sandbox');
      expect(row?.state).toBe('degraded');
      expect(row?.failureCount).toBe(1);
      await clock.advance(11_000); // now expired, provider still failing
      await expect(w.accessToken('sandbox')).rejects.toBeInstanceOf(TransientError);
      expect((await partsOf(w).store.getConnection('sandbox'))?.state).toBe('degraded');
      proxy.setMode('pass');
      await clock.advance(10 * 60_000); // past any backoff
      const healed = await w.accessToken('sandbox');
      expect(healed).not.toBe(token);
      expect((await partsOf(w).store.getConnection('sandbox'))?.state).toBe('healthy');
      const types = (await partsOf(w).store.listEvents({ connection: 'sandbox' })).map((e) => e.type);
      expect(types).toContain('degraded');
      expect(types).toContain('recovered');
      expect(types).not.toContain('reauth_required');
    },
  );

  it('once callers are failing, retries at least every minute (backoff cap 60 s, not 5 min)', async () => {
    const clock = new FakeClock(Date.now());
    const w = await open(clock, join(dir, 'cap.db'), true);
    await authorize(w);
    await w.accessToken('sandbox');
    proxy.setMode('http500');
    await clock.advance(61_000); // expired: every call fails until the provider answers
    const delays: number[] = [];
    for (let i = 0; i < 12; i++) {
      await expect(w.accessToken('sandbox')).rejects.toBeInstanceOf(TransientError);
      const row = await partsOf(w).store.getConnection('sandbox');
      const delay = (row?.nextAttemptAt ?? 0) - clock.now();
      delays.push(delay);
      await clock.advance(delay);
    }
    expect(Math.max(...delays)).toBeLessThanOrEqual(60_000);
    expect(delays.at(-1)).toBeGreaterThanOrEqual(30_000); // grew to the cap (jitter: half to full)
    expect((await partsOf(w).store.getConnection('sandbox'))?.state).toBe('degraded');
  });

  it('honours Retry-After on 429: no request to the provider before it passes', async () => {
    const clock = new FakeClock(Date.now());
    const w = await open(clock, join(dir, 'retry-after.db'), true);
    await authorize(w);
    await w.accessToken('sandbox');
    proxy.setMode('http429', { retryAfterSeconds: 120 });
    await clock.advance(61_000);
    await expect(w.accessToken('sandbox')).rejects.toBeInstanceOf(TransientError);
    const requests = proxy.requests;
    await clock.advance(60_000);
    await expect(w.accessToken('sandbox')).rejects.toThrow(/next attempt in \d+ s/);
    expect(proxy.requests).toBe(requests);
    proxy.setMode('pass');
    await clock.advance(61_000);
    expect(await w.accessToken('sandbox')).toBeTruthy();
    expect(proxy.requests).toBe(requests + 1);
  });

  it('a revoked grant → reauth_required with a diagnosed cause and a typed error', async () => {
    const clock = new FakeClock(Date.now());
    const w = await open(clock, join(dir, 'revoked.db'));
    await authorize(w);
    await w.accessToken('sandbox');
    await peer.revokeGrantsFor();
    await clock.advance(61_000);
    const err = await w.accessToken('sandbox').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ReauthRequiredError);
    const e = err as ReauthRequiredError;
    expect(e.code).toBe('TW_REAUTH_REQUIRED');
    expect(e.diagnosis.fix.length).toBeGreaterThan(10);
    expect(e.message).not.toMatch(/invalid_grant$/);
    expect((await partsOf(w).store.getConnection('sandbox'))?.state).toBe('reauth_required');
    // Fails fast afterwards, without asking the provider again.
    const before = peer.tokenRequests('refresh_token');
    await expect(w.accessToken('sandbox')).rejects.toBeInstanceOf(ReauthRequiredError);
    expect(peer.tokenRequests('refresh_token')).toBe(before);
  });
});
