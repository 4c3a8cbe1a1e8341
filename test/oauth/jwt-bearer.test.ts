/**
 * Google service-account JWT bearer (RFC 7523 §2.1) against a local token endpoint that verifies
 * the RS256 signature with the public half of a freshly generated key pair.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPairSync, verify, type KeyObject } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeClock } from '../../src/core/clock.js';
import { ConfigError, ProviderError } from '../../src/core/errors.js';
import { createGrantClient } from '../../src/oauth/index.js';
import { resolveProfile } from '../../src/providers/index.js';
import { startFakeHttp, type FakeHttp } from './fake-http.js';
import { conn } from './helpers.js';

let fake: FakeHttp;
let dir: string;
let publicKey: KeyObject;
const NOW = Date.UTC(2026, 2, 1);

function decode(part: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;
}

beforeAll(async () => {
  const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
  publicKey = pair.publicKey;
  dir = await mkdtemp(join(tmpdir(), 'tw-sa-'));
  fake = await startFakeHttp();
  const key = {
    type: 'service_account',
    project_id: 'p',
    private_key_id: 'kid-1',
    private_key: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }),
    client_email: 'agent@p.iam.gserviceaccount.com',
    token_uri: `${fake.url}/token`,
  };
  await writeFile(join(dir, 'sa.json'), JSON.stringify(key));
  await writeFile(join(dir, 'broken.json'), '{"client_email": "x"}');
  // A token endpoint that accepts only a correctly signed, correctly addressed assertion.
  fake.route('POST', '/token', (r) => {
    if (r.form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer')
      return { status: 400, body: { error: 'unsupported_grant_type' } };
    const [h, c, s] = (r.form.get('assertion') ?? '').split('.');
    if (!h || !c || !s) return { status: 400, body: { error: 'invalid_grant', error_description: 'Invalid JWT' } };
    const ok = verify('RSA-SHA256', Buffer.from(`${h}.${c}`), publicKey, Buffer.from(s, 'base64url'));
    if (!ok) return { status: 400, body: { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' } };
    const claims = decode(c);
    if (claims['aud'] !== `${fake.url}/token`)
      return { status: 400, body: { error: 'invalid_grant', error_description: 'Invalid audience' } };
    return {
      status: 200,
      body: {
        access_token: `sa-token-for-${String(claims['sub'] ?? claims['iss'])}`,
        expires_in: 3599,
        token_type: 'Bearer',
      },
    };
  });
});
afterAll(async () => {
  await fake.stop();
  await rm(dir, { recursive: true, force: true });
});

const sa = (extra: Record<string, unknown> = {}) =>
  conn({
    provider: 'google',
    kind: 'service_account',
    key_file: 'sa.json',
    scopes: ['https://www.googleapis.com/auth/gmail.send'],
    ...extra,
  });

describe('service account JWT bearer', () => {
  it('signs an RS256 assertion the token endpoint verifies, with the right claims', async () => {
    const c = sa({ subject: 'agent@example.com' });
    const t = await createGrantClient(c, resolveProfile(c), { clock: new FakeClock(NOW), baseDir: dir }).jwtBearer();
    expect(t).toMatchObject({ accessToken: 'sa-token-for-agent@example.com', expiresAt: NOW + 3_599_000 });
    // The assertion is the only credential: no client_id or client_secret beside it.
    expect([...(fake.requests.at(-1)?.form.keys() ?? [])].sort()).toEqual(['assertion', 'grant_type']);
    const [h, claims] = (fake.requests.at(-1)?.form.get('assertion') ?? '')
      .split('.')
      .map((p, i) => (i < 2 ? decode(p) : p));
    expect(h).toEqual({ alg: 'RS256', typ: 'JWT', kid: 'kid-1' });
    expect(claims).toEqual({
      iss: 'agent@p.iam.gserviceaccount.com',
      sub: 'agent@example.com',
      scope: 'https://www.googleapis.com/auth/gmail.send',
      aud: `${fake.url}/token`,
      iat: NOW / 1000,
      exp: NOW / 1000 + 3600,
    });
  });

  it('a signature from another key is refused → ProviderError invalid_grant', async () => {
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await writeFile(
      join(dir, 'other.json'),
      JSON.stringify({
        client_email: 'agent@p.iam.gserviceaccount.com',
        private_key: other.privateKey.export({ type: 'pkcs8', format: 'pem' }),
        token_uri: `${fake.url}/token`,
      }),
    );
    const c = sa({ key_file: join(dir, 'other.json') });
    const err = await createGrantClient(c, resolveProfile(c), { clock: new FakeClock(NOW) })
      .jwtBearer()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect(err).toMatchObject({ error: 'invalid_grant', description: 'Invalid JWT Signature.' });
  });

  it.each([
    ['missing.json', /cannot read/],
    ['broken.json', /lacks client_email or private_key/],
  ])('%s → ConfigError naming key_file', async (file, message) => {
    const c = sa({ key_file: file });
    const err = await createGrantClient(c, resolveProfile(c), { clock: new FakeClock(NOW), baseDir: dir })
      .jwtBearer()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).path).toBe('key_file');
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).not.toMatch(/PRIVATE KEY/);
  });
});
