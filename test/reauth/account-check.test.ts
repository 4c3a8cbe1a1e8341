/**
 * Account identity of a re-authorization (reauth/account-check.ts): what is compared (ID token
 * subject, else the email or login), when a comparison is impossible, and the provider profile
 * asked when new tokens carry no ID token (Graph `/me` on the Graph fake).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectionSchema } from '../../src/config/schema.js';
import type { ConnectionRuntime } from '../../src/keeper/runtime.js';
import { resolveProfile } from '../../src/providers/index.js';
import type { ConnectionRecord } from '../../src/store/types.js';
import { startGraphFake, type GraphFake } from '../peers/graph-fake.js';
import { compareAccounts, identityOfIdToken, identityOfRow, identityOfTokens } from '../../src/reauth/account-check.js';

const idToken = (claims: Record<string, unknown>): string =>
  `e30.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;

describe('compareAccounts', () => {
  const alice = { subject: 'sub-alice', label: 'alice@example.com' };
  it.each([
    ['no grant yet', null, alice, 'first'],
    ['same subject, new email', alice, { subject: 'sub-alice', label: 'alice@new.example' }, 'same'],
    ['other subject, same email', alice, { subject: 'sub-mallory', label: 'alice@example.com' }, 'changed'],
    [
      'labels only, same (case-insensitive)',
      { subject: null, label: 'Octocat' },
      { subject: null, label: 'octocat' },
      'same',
    ],
    ['labels only, other', { subject: null, label: 'octocat' }, { subject: null, label: 'mallory' }, 'changed'],
    ['previous account unknown', { subject: null, label: null }, alice, 'unknown'],
    ['new account unknown', alice, { subject: null, label: null }, 'unknown'],
  ] as const)('%s → %s', (_what, prior, next, kind) => {
    expect(compareAccounts(prior, next).kind).toBe(kind);
  });

  it('names both accounts when they differ', () => {
    expect(compareAccounts(alice, { subject: 'sub-mallory', label: 'mallory@example.com' })).toEqual({
      kind: 'changed',
      from: 'alice@example.com',
      to: 'mallory@example.com',
    });
  });
});

describe('identity of a stored grant', () => {
  const row = (p: Partial<ConnectionRecord>): ConnectionRecord =>
    ({
      grantedAt: null,
      accessToken: null,
      refreshToken: null,
      idToken: null,
      account: null,
      ...p,
    }) as ConnectionRecord;
  it('is absent before the first grant, and read from the sealed ID token and account after', () => {
    expect(identityOfRow(null)).toBeNull();
    expect(identityOfRow(row({}))).toBeNull();
    expect(
      identityOfRow(row({ grantedAt: 1, refreshToken: 'r', idToken: idToken({ sub: 's1' }), account: 'a@x' })),
    ).toEqual({ subject: 's1', label: 'a@x' });
    expect(identityOfRow(row({ grantedAt: 1, refreshToken: 'r' }))).toEqual({ subject: null, label: null });
  });
  it('takes the label from email, preferred_username, upn, else sub', () => {
    expect(identityOfIdToken(idToken({ sub: 's', email: 'e@x', upn: 'u@x' })).label).toBe('e@x');
    expect(identityOfIdToken(idToken({ sub: 's', upn: 'u@x' })).label).toBe('u@x');
    expect(identityOfIdToken(idToken({ sub: 's' })).label).toBe('s');
    expect(identityOfIdToken('not-a-jwt')).toEqual({ subject: null, label: null });
  });
});

describe('identity of new tokens without an ID token', () => {
  let graph: GraphFake;
  beforeAll(async () => {
    graph = await startGraphFake({
      verifyToken: (t) => Promise.resolve(t === 'good-token'),
      address: 'ops@example.com',
    });
  });
  afterAll(async () => {
    await graph?.stop();
  });
  const rt = (): ConnectionRuntime => {
    const config = connectionSchema.parse({
      provider: 'microsoft',
      client_id: 'c',
      scopes: ['Mail.Send', 'User.Read'],
    });
    return {
      name: 'ms',
      index: 0,
      config,
      profile: resolveProfile(config),
      client: () => Promise.reject(new Error('unused')),
    };
  };
  // Graph requests go to the fake (the profile endpoint is an absolute graph.microsoft.com URL).
  const toFake: typeof fetch = (input, init) =>
    fetch(String(input).replace('https://graph.microsoft.com', graph.url), init);

  it("asks the provider's profile endpoint with the new access token", async () => {
    const id = await identityOfTokens(rt(), { accessToken: 'good-token', tokenType: 'Bearer' }, toFake);
    expect(id).toEqual({ subject: null, label: 'ops@example.com' });
  });

  it('leaves the account unknown when the profile endpoint refuses', async () => {
    const id = await identityOfTokens(rt(), { accessToken: 'bad-token', tokenType: 'Bearer' }, toFake);
    expect(id).toEqual({ subject: null, label: null });
  });
});
