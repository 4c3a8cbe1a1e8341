/**
 * Provider quirks against local fakes that answer as the providers document:
 * Google (428 pending, 403 slow_down, `verification_url`, no refresh rotation), GitHub (errors as
 * HTTP 200, `refresh_token_expires_in`, slow_down with `interval`, non-RFC revocation), Microsoft
 * (`authorization_declined`, AADSTS descriptions, no revocation endpoint).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeClock, systemClock } from '../../src/core/clock.js';
import { ProviderError } from '../../src/core/errors.js';
import type { TokenSet } from '../../src/core/types.js';
import { createGrantClient } from '../../src/oauth/index.js';
import { resolveProfile } from '../../src/providers/index.js';
import { sequence, startFakeHttp, type FakeHttp } from './fake-http.js';
import { conn } from './helpers.js';

let fake: FakeHttp;
beforeEach(async () => {
  fake = await startFakeHttp();
});
afterEach(async () => {
  await fake.stop();
});

const tokenBody = { access_token: 'ya29.fake-access', expires_in: 3599, token_type: 'Bearer', scope: 'openid' };

/** Advance the fake clock one second at a time while the poll loop is parked, until `p` settles. */
async function drive<T>(clock: FakeClock, p: Promise<T>): Promise<T> {
  let settled = false;
  const watched = p.finally(() => {
    settled = true;
  });
  watched.catch(() => {});
  while (!settled) {
    await vi.waitFor(() => {
      if (!settled && clock.pending === 0) throw new Error('waiting for the poller to park');
    });
    if (!settled) await clock.advance(1000);
  }
  return p;
}

describe('google', () => {
  const google = (extra: Record<string, unknown> = {}) =>
    conn({
      provider: 'google',
      client_id: 'gid.apps.googleusercontent.com',
      client_secret: 'GOCSPX-secret',
      redirect_uri: 'http://127.0.0.1:7465/oauth/callback',
      scopes: ['openid', 'email'],
      auth_url: `${fake.url}/o/oauth2/v2/auth`,
      token_url: `${fake.url}/token`,
      device_url: `${fake.url}/device/code`,
      revoke_url: `${fake.url}/revoke`,
      ...extra,
    });

  it('asks for offline access with consent and sends no nonce to a non-discovery provider', async () => {
    const c = google();
    const req = await createGrantClient(c, resolveProfile(c), { clock: systemClock }).authorizationRequest();
    const url = new URL(req.url);
    expect(url.searchParams.get('access_type')).toBe('offline');
    expect(url.searchParams.get('prompt')).toBe('consent');
    expect(url.searchParams.get('code_challenge_method')).toBe('S256');
    expect(req.nonce).toBeUndefined();
  });

  it('exchanges a code (ignoring an iss parameter it cannot check) and keeps the unverified ID token', async () => {
    fake.route('POST', '/token', () => ({
      status: 200,
      body: { ...tokenBody, refresh_token: '1//rt', id_token: 'eyJ.fake.idt' },
    }));
    const c = google();
    const gc = createGrantClient(c, resolveProfile(c), { clock: systemClock });
    const req = await gc.authorizationRequest();
    const cb = new URL(
      `${req.redirectUri}?state=${req.state}&code=4/0Afake&scope=openid&iss=https://accounts.google.com`,
    );
    const t = await gc.exchangeCode(cb, req);
    expect(t).toMatchObject({ accessToken: 'ya29.fake-access', refreshToken: '1//rt', idToken: 'eyJ.fake.idt' });
    const sent = fake.requests.at(-1)!;
    expect(sent.form.get('code_verifier')).toBe(req.codeVerifier);
    expect(sent.form.get('redirect_uri')).toBe(req.redirectUri);
    expect(sent.form.get('client_secret')).toBe('GOCSPX-secret');
  });

  it('a refresh answer without refresh_token leaves refreshToken undefined (Google does not rotate)', async () => {
    fake.route('POST', '/token', () => ({ status: 200, body: tokenBody }));
    const c = google();
    const clock = new FakeClock(1_000_000);
    const t: TokenSet = await createGrantClient(c, resolveProfile(c), { clock }).refresh('1//rt');
    expect(t).toEqual({
      accessToken: 'ya29.fake-access',
      tokenType: 'Bearer',
      scope: 'openid',
      expiresAt: 1_000_000 + 3_599_000,
    });
    expect(fake.requests[0]?.form.get('grant_type')).toBe('refresh_token');
  });

  it('invalid_grant "Token has been expired or revoked." is a ProviderError the profile can diagnose', async () => {
    fake.route('POST', '/token', () => ({
      status: 400,
      body: { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' },
    }));
    const c = google({ app_status: 'testing', scopes: ['https://www.googleapis.com/auth/gmail.send'] });
    const p = resolveProfile(c);
    const err = (await createGrantClient(c, p, { clock: systemClock })
      .refresh('1//rt')
      .catch((e: unknown) => e)) as ProviderError;
    expect(err).toBeInstanceOf(ProviderError);
    expect(err.description).toBe('Token has been expired or revoked.');
    const now = Date.now();
    const d = p.diagnose({
      error: err.error,
      description: err.description,
      conn: c,
      grantedAt: now - 8 * 86_400_000,
      lastUsedAt: null,
      now,
    });
    expect(d.id).toBe('google_testing_expiry');
  });

  it('device flow: verification_url, 428 authorization_pending, 403 slow_down (+5 s cumulative), then tokens', async () => {
    const clock = new FakeClock(0);
    fake.route('POST', '/device/code', () => ({
      status: 200,
      body: {
        device_code: 'AH-1Ng',
        user_code: 'GQVQ-JKEC',
        verification_url: 'https://www.google.com/device',
        expires_in: 1800,
        interval: 5,
      },
    }));
    const pollTimes: number[] = [];
    const answers = sequence(
      { status: 428, body: { error: 'authorization_pending', error_description: 'Precondition Required' } },
      { status: 403, body: { error: 'slow_down', error_description: 'Forbidden' } },
      { status: 428, body: { error: 'authorization_pending' } },
      { status: 403, body: { error: 'slow_down' } },
      { status: 200, body: { ...tokenBody, refresh_token: '1//dev' } },
    );
    fake.route('POST', '/token', (r) => {
      pollTimes.push(clock.now());
      expect(r.form.get('grant_type')).toBe('urn:ietf:params:oauth:grant-type:device_code');
      expect(r.form.get('device_code')).toBe('AH-1Ng');
      return answers(r);
    });
    const c = google();
    const gc = createGrantClient(c, resolveProfile(c), { clock });
    const device = await gc.startDeviceAuthorization();
    expect(device).toMatchObject({
      verificationUri: 'https://www.google.com/device',
      userCode: 'GQVQ-JKEC',
      interval: 5,
      expiresAt: 1_800_000,
    });
    const t = await drive(clock, gc.pollDeviceAuthorization(device));
    expect(t.refreshToken).toBe('1//dev');
    expect(pollTimes).toEqual([5000, 10_000, 20_000, 30_000, 45_000]);
  });

  it('device flow: 403 access_denied stops polling', async () => {
    const clock = new FakeClock(0);
    fake.route(
      'POST',
      '/token',
      sequence(
        { status: 428, body: { error: 'authorization_pending' } },
        { status: 403, body: { error: 'access_denied', error_description: 'Forbidden' } },
      ),
    );
    const c = google();
    const gc = createGrantClient(c, resolveProfile(c), { clock });
    const device = {
      deviceCode: 'd',
      userCode: 'u',
      verificationUri: 'https://www.google.com/device',
      expiresAt: 600_000,
      interval: 5,
    };
    const err = await drive(clock, gc.pollDeviceAuthorization(device)).catch((e: unknown) => e);
    expect(err).toMatchObject({ error: 'access_denied', status: 403 });
    expect(fake.requests).toHaveLength(2);
  });

  it('device flow: the device code expiring ends polling with expired_token', async () => {
    const clock = new FakeClock(0);
    fake.route('POST', '/token', () => ({ status: 428, body: { error: 'authorization_pending' } }));
    const c = google();
    const gc = createGrantClient(c, resolveProfile(c), { clock });
    const device = {
      deviceCode: 'd',
      userCode: 'u',
      verificationUri: 'https://www.google.com/device',
      expiresAt: 22_000,
      interval: 5,
    };
    const err = await drive(clock, gc.pollDeviceAuthorization(device)).catch((e: unknown) => e);
    expect(err).toMatchObject({ error: 'expired_token' });
    expect(fake.requests).toHaveLength(4); // at 5, 10, 15, 20 s; 25 s would be past expiry
  });

  it('device flow is refused up front for Gmail scopes (Google allows only a short list)', async () => {
    const c = google({ scopes: ['https://www.googleapis.com/auth/gmail.send'] });
    const err = await createGrantClient(c, resolveProfile(c), { clock: systemClock })
      .startDeviceAuthorization()
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ error: 'invalid_scope' });
    expect(fake.requests).toHaveLength(0);
  });

  it('revokes at the RFC 7009 endpoint', async () => {
    fake.route('POST', '/revoke', () => ({ status: 200, body: {} }));
    const c = google();
    await createGrantClient(c, resolveProfile(c), { clock: systemClock }).revoke('1//rt', 'refresh_token');
    expect(fake.requests[0]?.form.get('token')).toBe('1//rt');
    expect(fake.requests[0]?.form.get('token_type_hint')).toBe('refresh_token');
  });
});

describe('github', () => {
  const github = (extra: Record<string, unknown> = {}) =>
    conn({
      provider: 'github',
      client_id: 'Iv1.abc',
      client_secret: 'gh-secret',
      redirect_uri: 'http://127.0.0.1:7465/oauth/callback',
      auth_url: `${fake.url}/login/oauth/authorize`,
      token_url: `${fake.url}/login/oauth/access_token`,
      device_url: `${fake.url}/login/device/code`,
      revoke_url: `${fake.url}/applications/{client_id}/token`,
      ...extra,
    });

  it('an error answered as HTTP 200 (bad_refresh_token) is a ProviderError, not a success or a transient', async () => {
    fake.route('POST', '/login/oauth/access_token', () => ({
      status: 200,
      body: {
        error: 'bad_refresh_token',
        error_description: 'The refresh token passed is incorrect or expired.',
        error_uri: 'https://docs.github.com',
      },
    }));
    const c = github();
    const err = await createGrantClient(c, resolveProfile(c), { clock: systemClock })
      .refresh('ghr_old')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect(err).toMatchObject({
      error: 'bad_refresh_token',
      description: 'The refresh token passed is incorrect or expired.',
    });
    expect(fake.requests[0]?.headers['accept']).toBe('application/json');
  });

  it('rotating refresh with refresh_token_expires_in → refreshExpiresAt', async () => {
    fake.route('POST', '/login/oauth/access_token', () => ({
      status: 200,
      body: {
        access_token: 'ghu_new',
        expires_in: 28800,
        refresh_token: 'ghr_new',
        refresh_token_expires_in: 15897600,
        token_type: 'bearer',
        scope: '',
      },
    }));
    const c = github();
    const clock = new FakeClock(5_000);
    const t = await createGrantClient(c, resolveProfile(c), { clock }).refresh('ghr_old');
    expect(t).toMatchObject({
      accessToken: 'ghu_new',
      refreshToken: 'ghr_new',
      expiresAt: 5_000 + 28_800_000,
      refreshExpiresAt: 5_000 + 15_897_600_000,
    });
  });

  it('device flow: pending and slow_down answered as HTTP 200; slow_down adds 5 s', async () => {
    const clock = new FakeClock(0);
    fake.route('POST', '/login/device/code', () => ({
      status: 200,
      body: {
        device_code: '3584d8',
        user_code: 'WDJB-MJHT',
        verification_uri: 'https://github.com/login/device',
        expires_in: 900,
        interval: 5,
      },
    }));
    const times: number[] = [];
    const answers = sequence(
      {
        status: 200,
        body: { error: 'authorization_pending', error_description: 'The authorization request is still pending.' },
      },
      {
        status: 200,
        body: {
          error: 'slow_down',
          error_description: 'Too many requests have been made in the same timeframe.',
          interval: 10,
        },
      },
      { status: 200, body: { access_token: 'ghu_dev', token_type: 'bearer', scope: 'repo' } },
    );
    fake.route('POST', '/login/oauth/access_token', (r) => {
      times.push(clock.now());
      return answers(r);
    });
    const c = github();
    const gc = createGrantClient(c, resolveProfile(c), { clock });
    const device = await gc.startDeviceAuthorization();
    const t = await drive(clock, gc.pollDeviceAuthorization(device));
    expect(t.accessToken).toBe('ghu_dev');
    expect(t.refreshToken).toBeUndefined();
    expect(times).toEqual([5000, 10_000, 20_000]);
  });

  it('bad_verification_code on exchange is a ProviderError', async () => {
    fake.route('POST', '/login/oauth/access_token', () => ({
      status: 200,
      body: { error: 'bad_verification_code', error_description: 'The code passed is incorrect or expired.' },
    }));
    const c = github();
    const gc = createGrantClient(c, resolveProfile(c), { clock: systemClock });
    const req = await gc.authorizationRequest();
    const err = await gc
      .exchangeCode(new URL(`${req.redirectUri}?code=abc&state=${req.state}`), req)
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ error: 'bad_verification_code' });
  });

  it('revokes with DELETE /applications/{client_id}/token and Basic credentials', async () => {
    fake.route('DELETE', '/applications/Iv1.abc/token', () => ({ status: 204, body: '' }));
    const c = github();
    await createGrantClient(c, resolveProfile(c), { clock: systemClock }).revoke('ghu_tok');
    const r = fake.requests[0]!;
    expect(r.method).toBe('DELETE');
    expect(r.headers['authorization']).toBe(`Basic ${Buffer.from('Iv1.abc:gh-secret').toString('base64')}`);
    expect(JSON.parse(r.body)).toEqual({ access_token: 'ghu_tok' });
  });
});

describe('microsoft', () => {
  const microsoft = () =>
    conn({
      provider: 'microsoft',
      client_id: 'ms-app',
      client_secret: 'ms-secret',
      scopes: ['offline_access', 'Mail.Send'],
      token_url: `${fake.url}/common/oauth2/v2.0/token`,
      device_url: `${fake.url}/common/oauth2/v2.0/devicecode`,
    });

  it('device flow: authorization_declined stops polling with a ProviderError', async () => {
    const clock = new FakeClock(0);
    fake.route('POST', '/common/oauth2/v2.0/devicecode', () => ({
      status: 200,
      body: {
        device_code: 'GMMhm',
        user_code: 'FG6JLQ6ZR',
        verification_uri: 'https://microsoft.com/devicelogin',
        expires_in: 900,
        interval: 5,
        message: 'To sign in…',
      },
    }));
    fake.route(
      'POST',
      '/common/oauth2/v2.0/token',
      sequence(
        {
          status: 400,
          body: {
            error: 'authorization_pending',
            error_description: 'AADSTS70016: OAuth 2.0 device flow error. Authorization is pending.',
            error_codes: [70016],
          },
        },
        {
          status: 400,
          body: {
            error: 'authorization_declined',
            error_description: 'AADSTS70000: The user declined.',
            error_codes: [70000],
          },
        },
      ),
    );
    const c = microsoft();
    const gc = createGrantClient(c, resolveProfile(c), { clock });
    const device = await gc.startDeviceAuthorization();
    const err = await drive(clock, gc.pollDeviceAuthorization(device)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect(err).toMatchObject({ error: 'authorization_declined' });
    expect(fake.requests.filter((r) => r.path.endsWith('/token'))).toHaveLength(2);
  });

  it('AADSTS700082 comes through with its description for diagnosis', async () => {
    fake.route('POST', '/common/oauth2/v2.0/token', () => ({
      status: 400,
      body: {
        error: 'invalid_grant',
        error_description:
          'AADSTS700082: The refresh token has expired due to inactivity. The token was issued on 2025-01-01 and was inactive for 90.00:00:00.',
        error_codes: [700082],
      },
    }));
    const c = microsoft();
    const p = resolveProfile(c);
    const err = (await createGrantClient(c, p, { clock: systemClock })
      .refresh('M.R3_old')
      .catch((e: unknown) => e)) as ProviderError;
    expect(
      p.diagnose({ error: err.error, description: err.description, conn: c, grantedAt: null, lastUsedAt: null, now: 0 })
        .id,
    ).toBe('unused_too_long');
  });

  it('has no revocation endpoint: revoke says so as a ProviderError without a request', async () => {
    const c = microsoft();
    const err = await createGrantClient(c, resolveProfile(c), { clock: systemClock })
      .revoke('x')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect(fake.requests).toHaveLength(0);
  });
});
