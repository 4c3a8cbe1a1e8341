import { describe, expect, it } from 'vitest';
import { connectionSchema, type ConnectionConfig } from '../config/schema.js';
import { CAUSES, probeFor, probeUrl, resolveProfile } from './index.js';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 0, 20);
const GMAIL_SEND = 'https://www.googleapis.com/auth/gmail.send';
const GMAIL_READ = 'https://www.googleapis.com/auth/gmail.readonly';

function conn(input: Record<string, unknown>): ConnectionConfig {
  return connectionSchema.parse({ client_id: 'cid', ...input });
}

describe('resolveProfile endpoints', () => {
  it.each([
    ['google', {}, 'tokenUrl', 'https://oauth2.googleapis.com/token'],
    ['google', {}, 'authUrl', 'https://accounts.google.com/o/oauth2/v2/auth'],
    ['google', {}, 'deviceUrl', 'https://oauth2.googleapis.com/device/code'],
    ['google', {}, 'revokeUrl', 'https://oauth2.googleapis.com/revoke'],
    ['microsoft', {}, 'tokenUrl', 'https://login.microsoftonline.com/common/oauth2/v2.0/token'],
    [
      'microsoft',
      { tenant: 'contoso.onmicrosoft.com' },
      'authUrl',
      'https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/authorize',
    ],
    [
      'microsoft',
      { tenant: 'organizations' },
      'deviceUrl',
      'https://login.microsoftonline.com/organizations/oauth2/v2.0/devicecode',
    ],
    ['github', {}, 'tokenUrl', 'https://github.com/login/oauth/access_token'],
    ['github', {}, 'deviceUrl', 'https://github.com/login/device/code'],
    ['oidc', { issuer: 'https://id.example.com' }, 'issuer', 'https://id.example.com'],
    ['google', { token_url: 'http://127.0.0.1:9/token' }, 'tokenUrl', 'http://127.0.0.1:9/token'],
    ['microsoft', { device_url: 'http://127.0.0.1:9/dc' }, 'deviceUrl', 'http://127.0.0.1:9/dc'],
    ['github', { api_base: 'http://127.0.0.1:9/api/' }, 'apiBase', 'http://127.0.0.1:9/api/'],
    ['google', { issuer: 'http://127.0.0.1:9' }, 'issuer', 'http://127.0.0.1:9'],
    [
      'oauth2',
      { auth_url: 'https://a.example/auth', token_url: 'https://a.example/token' },
      'tokenUrl',
      'https://a.example/token',
    ],
  ] as const)('%s %j → %s = %s', (provider, extra, key, value) => {
    expect(resolveProfile(conn({ provider, ...extra })).endpoints[key]).toBe(value);
  });

  it.each([
    ['google', false],
    ['microsoft', true],
    ['github', true],
    ['oidc', true],
  ] as const)('%s rotates refresh tokens: %s', (provider, rotates) => {
    expect(resolveProfile(conn({ provider, issuer: 'https://id.example.com' })).rotatesRefreshTokens).toBe(rotates);
  });

  it('google asks for offline access with consent; oidc asks for consent only with offline_access', () => {
    expect(resolveProfile(conn({ provider: 'google' })).authParams).toEqual({
      access_type: 'offline',
      prompt: 'consent',
    });
    expect(
      resolveProfile(conn({ provider: 'oidc', issuer: 'https://i.example', scopes: ['openid', 'offline_access'] }))
        .authParams,
    ).toEqual({ prompt: 'consent' });
    expect(
      resolveProfile(conn({ provider: 'oidc', issuer: 'https://i.example', scopes: ['openid'] })).authParams,
    ).toEqual({});
  });
});

describe('device flow scope rules', () => {
  it.each([
    ['google', ['openid', 'email', 'profile'], true],
    ['google', ['https://www.googleapis.com/auth/drive.file'], true],
    ['google', [GMAIL_SEND], false],
    ['google', ['openid', 'https://mail.google.com/'], false],
    ['microsoft', ['Mail.Send', 'offline_access'], true],
    ['github', ['repo'], true],
  ] as const)('%s %j → %s', (provider, scopes, allowed) => {
    expect(resolveProfile(conn({ provider })).deviceFlowAllowed([...scopes])).toBe(allowed);
  });
});

describe('probes', () => {
  it.each([
    ['google', [GMAIL_READ], 'https://gmail.googleapis.com/gmail/v1/users/me/profile', 'emailAddress'],
    ['google', [GMAIL_SEND, 'openid'], 'https://openidconnect.googleapis.com/v1/userinfo', 'email'],
    ['microsoft', ['User.Read', 'Mail.Send'], 'https://graph.microsoft.com/v1.0/me', 'userPrincipalName'],
    [
      'microsoft',
      ['https://graph.microsoft.com/user.read'],
      'https://graph.microsoft.com/v1.0/me',
      'userPrincipalName',
    ],
    ['github', [], 'https://api.github.com/user', 'login'],
  ] as const)('%s %j → %s', (provider, scopes, url, field) => {
    const p = resolveProfile(conn({ provider }));
    const probe = probeFor(p, [...scopes]);
    expect(probe && probeUrl(p, probe)).toBe(url);
    expect(probe?.accountField).toBe(field);
  });

  it('gmail.send alone has no meaningful probe', () => {
    expect(probeFor(resolveProfile(conn({ provider: 'google' })), [GMAIL_SEND])).toBeNull();
  });

  it('api_base override moves the gmail probe', () => {
    const p = resolveProfile(conn({ provider: 'google', api_base: 'http://127.0.0.1:5000/g' }));
    expect(probeUrl(p, probeFor(p, [GMAIL_READ])!)).toBe('http://127.0.0.1:5000/g/gmail/v1/users/me/profile');
  });
});

describe('predictRefreshDeath', () => {
  const base = { grantedAt: NOW, lastUsedAt: null, announcedRefreshExpiresAt: null };
  it.each([
    [
      'google testing gmail → 7 d after consent',
      { provider: 'google', app_status: 'testing' },
      [GMAIL_SEND],
      base,
      NOW + 7 * DAY,
    ],
    [
      'google testing basic scopes → 6 months unused',
      { provider: 'google', app_status: 'testing' },
      ['openid', 'email'],
      base,
      NOW + 183 * DAY,
    ],
    [
      'google testing userinfo.* URL scopes → no 7-day rule',
      { provider: 'google', app_status: 'testing' },
      ['https://www.googleapis.com/auth/userinfo.email'],
      base,
      NOW + 183 * DAY,
    ],
    [
      'google production → 6 months after last use',
      { provider: 'google', app_status: 'production' },
      [GMAIL_SEND],
      { ...base, lastUsedAt: NOW + DAY },
      NOW + 184 * DAY,
    ],
    [
      'microsoft → 90 d after last use',
      { provider: 'microsoft' },
      ['Mail.Send'],
      { ...base, lastUsedAt: NOW + 10 * DAY },
      NOW + 100 * DAY,
    ],
    [
      'github announced',
      { provider: 'github' },
      [],
      { ...base, announcedRefreshExpiresAt: NOW + 5 * DAY },
      NOW + 5 * DAY,
    ],
    ['github default 6 months', { provider: 'github' }, [], base, NOW + 183 * DAY],
    ['oidc unknown', { provider: 'oidc', issuer: 'https://i.example' }, [], base, null],
    [
      'oidc ttl override (rotating: from last use)',
      { provider: 'oidc', issuer: 'https://i.example', refresh_token_ttl: '30d' },
      [],
      { ...base, lastUsedAt: NOW + DAY },
      NOW + 31 * DAY,
    ],
    [
      'google ttl override wins',
      { provider: 'google', app_status: 'testing', refresh_token_ttl: '1d' },
      [GMAIL_SEND],
      base,
      NOW + DAY,
    ],
    ['nothing known', { provider: 'microsoft' }, [], { ...base, grantedAt: null }, null],
  ] as const)('%s', (_name, c, scopes, input, expected) => {
    const cc = conn({ ...c, scopes: [...scopes] });
    expect(resolveProfile(cc).predictRefreshDeath({ conn: cc, scopes: [...scopes], ...input })).toBe(expected);
  });
});

describe('diagnose', () => {
  const google = (extra: Record<string, unknown> = {}) => conn({ provider: 'google', scopes: [GMAIL_SEND], ...extra });
  it.each([
    [
      'testing app, 7 days old',
      google({ app_status: 'testing' }),
      'invalid_grant',
      'Token has been expired or revoked.',
      NOW - 7 * DAY,
      'google_testing_expiry',
    ],
    [
      'testing app, 2 days old',
      google({ app_status: 'testing' }),
      'invalid_grant',
      'Token has been expired or revoked.',
      NOW - 2 * DAY,
      'revoked',
    ],
    [
      'testing app, basic scopes only',
      conn({ provider: 'google', app_status: 'testing', scopes: ['openid', 'email'] }),
      'invalid_grant',
      'Token has been expired or revoked.',
      NOW - 8 * DAY,
      'revoked',
    ],
    [
      'production app',
      google({ app_status: 'production' }),
      'invalid_grant',
      'Token has been expired or revoked.',
      NOW - 8 * DAY,
      'revoked',
    ],
    [
      'invalid_rapt',
      google(),
      'invalid_grant',
      'reauth related error (invalid_rapt)',
      NOW - DAY,
      'google_invalid_rapt',
    ],
    [
      'unused 6 months',
      google(),
      'invalid_grant',
      'Token has been expired or revoked.',
      NOW - 200 * DAY,
      'unused_too_long',
    ],
    ['account deleted', google(), 'invalid_grant', 'Account has been deleted', NOW - DAY, 'account_disabled'],
    ['google bad client', google(), 'invalid_client', 'Unauthorized', NOW - DAY, 'client_invalid'],
    [
      'ms inactive',
      conn({ provider: 'microsoft' }),
      'invalid_grant',
      'AADSTS700082: The refresh token has expired due to inactivity.',
      NOW,
      'unused_too_long',
    ],
    [
      'ms password',
      conn({ provider: 'microsoft' }),
      'invalid_grant',
      'AADSTS50173: The provided grant has expired due to it being revoked, a fresh auth token is needed.',
      NOW,
      'password_changed',
    ],
    [
      'ms 70008',
      conn({ provider: 'microsoft' }),
      'invalid_grant',
      'AADSTS70008: The provided authorization code or refresh token has expired due to inactivity.',
      NOW,
      'revoked',
    ],
    [
      'ms 70000',
      conn({ provider: 'microsoft' }),
      'invalid_grant',
      'AADSTS70000: The provided value for the input parameter is not valid.',
      NOW,
      'revoked',
    ],
    [
      'ms consent',
      conn({ provider: 'microsoft' }),
      'invalid_grant',
      'AADSTS65001: The user or administrator has not consented',
      NOW,
      'consent_required',
    ],
    [
      'ms interaction_required',
      conn({ provider: 'microsoft' }),
      'interaction_required',
      'AADSTS50076: Due to a configuration change',
      NOW,
      'interaction_required',
    ],
    ['ms declined', conn({ provider: 'microsoft' }), 'authorization_declined', undefined, NOW, 'access_denied'],
    [
      'github bad refresh',
      conn({ provider: 'github' }),
      'bad_refresh_token',
      'The refresh token passed is incorrect or expired.',
      NOW,
      'revoked',
    ],
    [
      'github bad code',
      conn({ provider: 'github' }),
      'bad_verification_code',
      'The code passed is incorrect or expired.',
      NOW,
      'code_invalid',
    ],
    [
      'github bad client',
      conn({ provider: 'github' }),
      'incorrect_client_credentials',
      undefined,
      NOW,
      'client_invalid',
    ],
    [
      'oidc invalid_grant',
      conn({ provider: 'oidc', issuer: 'https://i.example' }),
      'invalid_grant',
      'grant request is invalid',
      NOW,
      'revoked',
    ],
    ['oidc unknown error', conn({ provider: 'oidc', issuer: 'https://i.example' }), 'weird', undefined, NOW, 'unknown'],
  ] as const)('%s → %s', (_n, c, error, description, grantedAt, id) => {
    const d = resolveProfile(c).diagnose({ error, description, conn: c, grantedAt, lastUsedAt: null, now: NOW });
    expect(d.id).toBe(id);
    expect(d.providerError).toBe(error);
    expect(d.summary.length).toBeGreaterThan(10);
    expect(d.fix.length).toBeGreaterThan(10);
  });

  it('testing-mode cause tells the human to publish the app', () => {
    expect(CAUSES.google_testing_expiry.fix).toMatch(/publish the app to production/);
    expect(CAUSES.rotation_race.id).toBe('rotation_race');
  });
});
