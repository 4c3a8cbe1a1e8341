/**
 * The OAuth engine end to end against a real oidc-provider (test/peers/oidc-provider.ts):
 * authorization code + PKCE, device flow, rotation, revocation, client credentials.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock, FakeClock } from '../../src/core/clock.js';
import { ConfigError, InputError, ProviderError } from '../../src/core/errors.js';
import { createGrantClient, DiscoveryCache } from '../../src/oauth/index.js';
import { resolveProfile } from '../../src/providers/index.js';
import type { ConnectionConfig } from '../../src/config/schema.js';
import { startOidcProvider, type OidcPeer } from '../peers/oidc-provider.js';
import { conn, oidcConn } from './helpers.js';

let peer: OidcPeer;
beforeAll(async () => {
  peer = await startOidcProvider({ accessTokenTtl: 5, refreshTokenTtl: 60 });
});
afterAll(async () => {
  await peer.stop();
});

function client(extra: Record<string, unknown> = {}, deps: Partial<Parameters<typeof createGrantClient>[2]> = {}) {
  const c = oidcConn(peer, extra);
  return createGrantClient(c, resolveProfile(c), { clock: systemClock, discoveryCache: new DiscoveryCache(), ...deps });
}

async function authorize(gc = client(), accountId = 'alice') {
  const req = await gc.authorizationRequest();
  const pasted = await peer.approveAuthorization(req.url, { accountId });
  return { req, pasted, tokens: await gc.exchangeCode(new URL(pasted), req) };
}

describe('authorization code + PKCE', () => {
  it('builds a PKCE S256 request with state and nonce, and exchanges the pasted URL for tokens', async () => {
    const gc = client();
    const req = await gc.authorizationRequest();
    const url = new URL(req.url);
    expect(url.origin + url.pathname).toBe(`${peer.issuer}/auth`);
    expect(url.searchParams.get('code_challenge_method')).toBe('S256');
    expect(url.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(url.searchParams.get('state')).toBe(req.state);
    expect(url.searchParams.get('nonce')).toBe(req.nonce);
    expect(url.searchParams.get('prompt')).toBe('consent'); // offline_access needs it (OIDC Core §11)
    expect(url.searchParams.get('scope')).toBe('openid offline_access api:read');
    expect(req.codeVerifier).not.toBe(url.searchParams.get('code_challenge'));

    const before = Date.now();
    const pasted = await peer.approveAuthorization(req.url);
    const tokens = await gc.exchangeCode(new URL(pasted), req);
    expect(tokens.accessToken).toBeTruthy();
    expect(tokens.refreshToken).toBeTruthy();
    expect(tokens.idToken).toBeTruthy();
    expect(tokens.tokenType).toBe('Bearer');
    expect(tokens.expiresAt).toBeGreaterThanOrEqual(before + 4000);
    expect(tokens.expiresAt).toBeLessThanOrEqual(Date.now() + 5000);
    expect((await peer.introspect(tokens.accessToken)).active).toBe(true);
  });

  it('two requests never share state or verifier', async () => {
    const gc = client();
    const [a, b] = await Promise.all([gc.authorizationRequest(), gc.authorizationRequest()]);
    expect(a.state).not.toBe(b.state);
    expect(a.codeVerifier).not.toBe(b.codeVerifier);
  });

  it('expiresAt follows the injected clock', async () => {
    const clock = new FakeClock(Date.UTC(2030, 0, 1));
    const { tokens } = await authorize(client({}, { clock }));
    expect(tokens.expiresAt).toBe(Date.UTC(2030, 0, 1) + 5000);
  });

  it('rejects a URL whose state does not match (InputError) without touching the token endpoint', async () => {
    const gc = client();
    const req = await gc.authorizationRequest();
    const pasted = await peer.approveAuthorization(req.url);
    const before = peer.tokenRequests('authorization_code');
    const forged = new URL(pasted);
    forged.searchParams.set('state', 'forged-state');
    await expect(gc.exchangeCode(forged, req)).rejects.toBeInstanceOf(InputError);
    expect(peer.tokenRequests('authorization_code')).toBe(before);
    // The genuine URL still works afterwards: nothing was consumed.
    await expect(gc.exchangeCode(new URL(pasted), req)).resolves.toMatchObject({ accessToken: expect.any(String) });
  });

  it('a second use of the code is a ProviderError invalid_grant', async () => {
    const gc = client();
    const { req, pasted } = await authorize(gc);
    const err = await gc.exchangeCode(new URL(pasted), req).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect((err as ProviderError).error).toBe('invalid_grant');
    expect((err as ProviderError).status).toBe(400);
  });

  it('a wrong PKCE verifier is refused by the server', async () => {
    const gc = client();
    const req = await gc.authorizationRequest();
    const pasted = await peer.approveAuthorization(req.url);
    const err = await gc
      .exchangeCode(new URL(pasted), { ...req, codeVerifier: 'x'.repeat(43) })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ error: 'invalid_grant' });
  });

  it('a denied authorization (error=access_denied in the URL) is an InputError naming the error', async () => {
    const gc = client();
    const req = await gc.authorizationRequest();
    const pasted = await peer.approveAuthorization(req.url, { deny: true });
    expect(new URL(pasted).searchParams.get('error')).toBe('access_denied');
    const err = await gc.exchangeCode(new URL(pasted), req).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(/access_denied/);
  });
});

describe('refresh with rotation', () => {
  it('returns a new refresh token each time; reusing an old one revokes the whole grant', async () => {
    const gc = client();
    const { tokens: t0 } = await authorize(gc);
    const t1 = await gc.refresh(t0.refreshToken as string);
    expect(t1.refreshToken).toBeTruthy();
    expect(t1.refreshToken).not.toBe(t0.refreshToken);
    expect(t1.accessToken).not.toBe(t0.accessToken);
    const t2 = await gc.refresh(t1.refreshToken as string);
    expect(t2.refreshToken).not.toBe(t1.refreshToken);

    const reuse = await gc.refresh(t0.refreshToken as string).catch((e: unknown) => e);
    expect(reuse).toBeInstanceOf(ProviderError);
    expect((reuse as ProviderError).error).toBe('invalid_grant');
    // Real provider behaviour: replay detection kills the newest refresh token and its access token too.
    await expect(gc.refresh(t2.refreshToken as string)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await peer.introspect(t2.accessToken)).active).toBe(false);
  });

  it('a non-rotating server keeps answering with the same refresh token', async () => {
    const still = await startOidcProvider({ rotateRefreshToken: false });
    try {
      const c = oidcConn(still);
      const gc = createGrantClient(c, resolveProfile(c), { clock: systemClock });
      const req = await gc.authorizationRequest();
      const t0 = await gc.exchangeCode(new URL(await still.approveAuthorization(req.url)), req);
      const t1 = await gc.refresh(t0.refreshToken as string);
      const t2 = await gc.refresh(t0.refreshToken as string);
      expect(t1.accessToken).not.toBe(t0.accessToken);
      expect(t2.accessToken).not.toBe(t1.accessToken);
      expect(t1.refreshToken).toBe(t0.refreshToken);
    } finally {
      await still.stop();
    }
  });

  it('a grant revoked server-side ("remove access") answers invalid_grant', async () => {
    const gc = client();
    const { tokens } = await authorize(gc, 'bob');
    await peer.revokeGrantsFor('bob');
    await expect(gc.refresh(tokens.refreshToken as string)).rejects.toMatchObject({ error: 'invalid_grant' });
  });
});

describe('revocation (RFC 7009)', () => {
  it('revoking the refresh token ends the grant', async () => {
    const gc = client();
    const { tokens } = await authorize(gc);
    await gc.revoke(tokens.refreshToken as string, 'refresh_token');
    await expect(gc.refresh(tokens.refreshToken as string)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('revoking the access token deactivates it', async () => {
    const gc = client();
    const { tokens } = await authorize(gc);
    expect((await peer.introspect(tokens.accessToken)).active).toBe(true);
    await gc.revoke(tokens.accessToken, 'access_token');
    expect((await peer.introspect(tokens.accessToken)).active).toBe(false);
  });
});

describe('device authorization (RFC 8628)', () => {
  it('polls until the human approves and returns tokens', async () => {
    const gc = client({}, { deviceIntervalSeconds: 0.05 });
    const device = await gc.startDeviceAuthorization();
    expect(device.userCode).toMatch(/^[A-Z]{4}-[A-Z]{4}$/);
    expect(device.verificationUri).toBe(`${peer.issuer}/device`);
    expect(device.interval).toBe(0.05); // oidc-provider sends no interval
    const pending = peer.tokenErrors().filter((e) => e.error === 'authorization_pending').length;
    const polling = gc.pollDeviceAuthorization(device);
    // Let at least one poll see authorization_pending before the human approves.
    await expect
      .poll(() => peer.tokenErrors().filter((e) => e.error === 'authorization_pending').length)
      .toBeGreaterThan(pending);
    await peer.approveDevice(device.verificationUriComplete as string);
    const tokens = await polling;
    expect(tokens.refreshToken).toBeTruthy();
    expect((await peer.introspect(tokens.accessToken)).sub).toBe('alice');
  });

  it('a denied device request fails with ProviderError access_denied', async () => {
    const gc = client({}, { deviceIntervalSeconds: 0.05 });
    const device = await gc.startDeviceAuthorization();
    await peer.approveDevice(device.verificationUriComplete as string, { deny: true });
    const err = await gc.pollDeviceAuthorization(device).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect((err as ProviderError).error).toBe('access_denied');
  });

  it('stops when the signal aborts', async () => {
    const gc = client({}, { deviceIntervalSeconds: 0.05 });
    const device = await gc.startDeviceAuthorization();
    const ac = new AbortController();
    const polling = gc.pollDeviceAuthorization(device, { signal: ac.signal });
    ac.abort(new Error('flow cancelled'));
    await expect(polling).rejects.toThrow('flow cancelled');
  });
});

describe('client credentials', () => {
  it('gets an access token without a refresh token', async () => {
    const c = conn({
      provider: 'oidc',
      kind: 'client_credentials',
      issuer: peer.issuer,
      client_id: peer.clientId,
      client_secret: peer.clientSecret,
      scopes: ['api:read'],
    });
    const before = peer.tokenRequests('client_credentials');
    const tokens = await createGrantClient(c, resolveProfile(c), { clock: systemClock }).clientCredentials();
    expect(tokens.accessToken).toBeTruthy();
    expect(tokens.refreshToken).toBeUndefined();
    expect(tokens.scope).toBe('api:read');
    expect(peer.tokenRequests('client_credentials')).toBe(before + 1);
  });

  it('a wrong client secret is a ProviderError invalid_client', async () => {
    const gc = client({ client_secret: 'wrong-secret' });
    const err = await gc.refresh('whatever').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect((err as ProviderError).error).toBe('invalid_client');
    expect((err as Error).message).not.toContain('wrong-secret');
  });
});

describe('endpoint policy', () => {
  it.each([
    ['issuer', { provider: 'oidc', issuer: 'http://id.example.com' }],
    ['token_url', { provider: 'oauth2', auth_url: 'https://a.example/auth', token_url: 'http://a.example/token' }],
    ['auth_url', { provider: 'google', auth_url: 'http://10.0.0.5/auth' }],
    ['device_url', { provider: 'microsoft', device_url: 'http://login.example/devicecode' }],
  ])('plain http to a non-loopback host is a ConfigError naming %s', (key, c) => {
    // The config schema refuses it when the config loads; a connection built without it (an
    // in-memory object) meets the same rule when its grant client is created.
    expect(() => conn({ client_id: 'cid', ...c })).toThrow(/http:\/\/ is allowed only to a loopback host/);
    const https = Object.fromEntries(Object.entries(c).map(([k, v]) => [k, v.replace(/^http:/, 'https:')]));
    const cc = { ...conn({ client_id: 'cid', ...https }), ...c } as ConnectionConfig;
    let err: unknown;
    try {
      createGrantClient(cc, resolveProfile(cc), { clock: systemClock });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).path).toBe(key);
  });

  it.each(['http://127.0.0.1:9/token', 'http://localhost:9/token', 'http://[::1]:9/token', 'https://a.example/token'])(
    '%s is allowed',
    (url) => {
      const cc = conn({ provider: 'oauth2', client_id: 'cid', auth_url: 'https://a.example/auth', token_url: url });
      expect(() => createGrantClient(cc, resolveProfile(cc), { clock: systemClock })).not.toThrow();
    },
  );
});
