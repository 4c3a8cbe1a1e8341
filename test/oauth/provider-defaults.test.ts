/**
 * Provider defaults that make a grant last: the authorization URL always asks for what the
 * provider needs to issue a refresh token (Microsoft `offline_access`; Google `access_type=offline`
 * and `prompt=consent`, which `auth_params` cannot drop), and Google scope short names are
 * expanded or refused with the full name in the error.
 */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { systemClock } from '../../src/core/clock.js';
import { ConfigError } from '../../src/core/errors.js';
import { createGrantClient } from '../../src/oauth/index.js';
import { resolveProfile } from '../../src/providers/index.js';
import { conn } from './helpers.js';

const REDIRECT = 'http://127.0.0.1:7465/oauth/callback';

async function authUrl(c: ReturnType<typeof conn>, extraParams?: Record<string, string>): Promise<URL> {
  const req = await createGrantClient(c, resolveProfile(c), { clock: systemClock }).authorizationRequest(
    extraParams ? { extraParams } : {},
  );
  return new URL(req.url);
}

function configError(connection: Record<string, unknown>): ConfigError {
  try {
    parseConfig({ connections: { mail: { client_id: 'cid', ...connection } } }, {});
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('the config was accepted');
}

describe('Microsoft', () => {
  it('always requests offline_access for a user grant, even when the config forgot it', async () => {
    const c = conn({ provider: 'microsoft', client_id: 'ms-app', redirect_uri: REDIRECT, scopes: ['Mail.Send'] });
    expect(c.scopes).toEqual(['Mail.Send', 'offline_access']);
    const url = await authUrl(c);
    expect(url.origin + url.pathname).toBe('https://login.microsoftonline.com/common/oauth2/v2.0/authorize');
    expect(url.searchParams.get('scope')?.split(' ')).toEqual(['Mail.Send', 'offline_access']);
  });

  it('asks once when the config already has it, and never for client credentials (no refresh tokens there)', () => {
    expect(conn({ provider: 'microsoft', client_id: 'a', scopes: ['offline_access', 'Mail.Send'] }).scopes).toEqual([
      'offline_access',
      'Mail.Send',
    ]);
    const app = conn({
      provider: 'microsoft',
      kind: 'client_credentials',
      client_id: 'a',
      client_secret: 's',
      scopes: ['https://graph.microsoft.com/.default'],
    });
    expect(app.scopes).toEqual(['https://graph.microsoft.com/.default']);
  });
});

describe('Google', () => {
  const google = (extra: Record<string, unknown> = {}) =>
    conn({ provider: 'google', client_id: 'gid', redirect_uri: REDIRECT, scopes: ['openid', 'email'], ...extra });

  it('keeps access_type=offline and prompt=consent even when a caller passes other values', async () => {
    const url = await authUrl(google(), { access_type: 'online', prompt: 'none', login_hint: 'a@example.com' });
    expect(url.searchParams.get('access_type')).toBe('offline');
    expect(url.searchParams.get('prompt')).toBe('consent');
    expect(url.searchParams.get('login_hint')).toBe('a@example.com'); // other parameters pass through
  });

  it('keeps a prompt that already asks for consent, as configured', async () => {
    const url = await authUrl(google({ auth_params: { prompt: 'consent select_account' } }));
    expect(url.searchParams.get('prompt')).toBe('consent select_account');
    expect(url.searchParams.get('access_type')).toBe('offline');
  });

  it('refuses auth_params that would drop the refresh token, saying why and what to do', () => {
    const online = configError({ provider: 'google', auth_params: { access_type: 'online' } });
    expect(online.message).toMatch(
      /connections\.mail\.auth_params\.access_type: Google issues a refresh token only with access_type=offline \(got "online"\): remove auth_params\.access_type/,
    );
    const none = configError({ provider: 'google', auth_params: { prompt: 'select_account' } });
    expect(none.message).toMatch(
      /connections\.mail\.auth_params\.prompt: Google returns a refresh token on a repeated authorization only with prompt=consent \(got "select_account"\)/,
    );
  });

  it('expands short scope names to their full form, in the config and in the request', async () => {
    const c = google({ scopes: ['openid', 'email', 'gmail.send', 'gmail.readonly', 'mail.google.com'] });
    expect(c.scopes).toEqual([
      'openid',
      'email',
      'https://www.googleapis.com/auth/gmail.send',
      'https://www.googleapis.com/auth/gmail.readonly',
      'https://mail.google.com/',
    ]);
    const url = await authUrl(c);
    expect(url.searchParams.get('scope')).toBe(
      'openid email https://www.googleapis.com/auth/gmail.send https://www.googleapis.com/auth/gmail.readonly https://mail.google.com/',
    );
  });

  it('refuses what cannot be a scope name, naming the full form', () => {
    const err = configError({ provider: 'google', scopes: ['openid', 'gmail send'] });
    expect(err.message).toMatch(
      /connections\.mail\.scopes\[1\]: "gmail send" is not a Google scope: write its full name, e\.g\. https:\/\/www\.googleapis\.com\/auth\/gmail\.send/,
    );
  });
});
