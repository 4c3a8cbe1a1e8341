/**
 * Failures between tokenwarden and the provider (test/peers/fault-proxy.ts in front of a real
 * oidc-provider) are TransientError — never ProviderError, so they can never send a connection
 * to reauth_required.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/core/clock.js';
import { ProviderError, TransientError } from '../../src/core/errors.js';
import type { TokenSet } from '../../src/core/types.js';
import { createGrantClient, DiscoveryCache } from '../../src/oauth/index.js';
import { resolveProfile } from '../../src/providers/index.js';
import { startFaultProxy, type FaultProxy } from '../peers/fault-proxy.js';
import { startOidcProvider, type OidcPeer } from '../peers/oidc-provider.js';
import { oidcConn } from './helpers.js';

let peer: OidcPeer;
let proxy: FaultProxy;
let tokens: TokenSet;

function proxiedClient(timeoutMs = 2000) {
  // Discovery from the real issuer; the token endpoint through the proxy.
  const c = oidcConn(peer, { token_url: `${proxy.url}/token` });
  return createGrantClient(c, resolveProfile(c), {
    clock: systemClock,
    timeoutMs,
    discoveryCache: new DiscoveryCache(),
  });
}

beforeAll(async () => {
  peer = await startOidcProvider({ refreshTokenTtl: 120 });
  proxy = await startFaultProxy(peer.issuer);
  const gc = proxiedClient();
  const req = await gc.authorizationRequest();
  tokens = await gc.exchangeCode(new URL(await peer.approveAuthorization(req.url)), req);
});
afterAll(async () => {
  await proxy.stop();
  await peer.stop();
});
beforeEach(() => proxy.setMode('pass'));

async function refreshError(timeoutMs?: number): Promise<unknown> {
  const before = peer.tokenRequests('refresh_token');
  const err = await proxiedClient(timeoutMs)
    .refresh(tokens.refreshToken as string)
    .then(
      () => null,
      (e: unknown) => e,
    );
  // The fault stood in for the provider: the refresh token was never spent.
  expect(peer.tokenRequests('refresh_token')).toBe(before);
  return err;
}

describe('transient failures', () => {
  it.each([
    ['http500', 500],
    ['http503', 503],
    ['html', 200],
    ['malformed_json', 200],
    ['reset', undefined],
  ] as const)('%s → TransientError', async (mode, status) => {
    proxy.setMode(mode);
    const err = await refreshError();
    expect(err).toBeInstanceOf(TransientError);
    expect(err).not.toBeInstanceOf(ProviderError);
    if (status && status >= 500) expect((err as TransientError).status).toBe(status);
    expect((err as Error).message).not.toContain(tokens.refreshToken as string);
    for (let e: unknown = err; e instanceof Error; e = e.cause) {
      expect(`${e.message} ${e.stack ?? ''}`).not.toContain(tokens.refreshToken as string);
    }
  });

  it('429 with Retry-After seconds → TransientError with retryAfterMs', async () => {
    proxy.setMode('http429', { retryAfterSeconds: 7 });
    const err = await refreshError();
    expect(err).toBeInstanceOf(TransientError);
    expect((err as TransientError).status).toBe(429);
    expect((err as TransientError).retryAfterMs).toBe(7000);
  });

  it('503 with an HTTP-date Retry-After → retryAfterMs from now', async () => {
    proxy.setMode('http503', { retryAfter: new Date(Date.now() + 30_000).toUTCString() });
    const err = (await refreshError()) as TransientError;
    expect(err).toBeInstanceOf(TransientError);
    expect(err.retryAfterMs).toBeGreaterThan(25_000);
    expect(err.retryAfterMs).toBeLessThanOrEqual(30_000);
  });

  it('a provider that never answers → TransientError after timeoutMs', async () => {
    proxy.setMode('timeout');
    const started = Date.now();
    const err = await refreshError(300);
    expect(err).toBeInstanceOf(TransientError);
    expect((err as Error).message).toMatch(/300 ms/);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('a slow provider within the timeout still succeeds', async () => {
    proxy.setMode('slow', { delayMs: 50 });
    const gc = proxiedClient();
    const t1 = await gc.refresh(tokens.refreshToken as string);
    tokens = t1;
    expect(t1.accessToken).toBeTruthy();
  });

  it('after the fault clears, the same refresh token still works (nothing was lost)', async () => {
    proxy.setMode('http503');
    await expect(proxiedClient().refresh(tokens.refreshToken as string)).rejects.toBeInstanceOf(TransientError);
    proxy.setMode('pass');
    const t = await proxiedClient().refresh(tokens.refreshToken as string);
    expect(t.refreshToken).not.toBe(tokens.refreshToken);
    tokens = t;
  });

  it('a definitive refusal through the proxy is still a ProviderError', async () => {
    await expect(proxiedClient().refresh('not-a-real-refresh-token')).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('a network failure during discovery → TransientError', async () => {
    const c = oidcConn(peer, { issuer: proxy.url });
    proxy.setMode('reset');
    const gc = createGrantClient(c, resolveProfile(c), { clock: systemClock, discoveryCache: new DiscoveryCache() });
    const err = await gc.refresh('x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientError);
    expect((err as Error).message).toMatch(/network error/);
  });
});
