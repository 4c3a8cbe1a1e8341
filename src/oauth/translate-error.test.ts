import { describe, expect, it } from 'vitest';
import { ProviderError, TransientError } from '../core/errors.js';
import { isLoopbackHost } from './endpoint-policy.js';
import { toTokenSet } from './token-set.js';
import { errorFromResponse, parseRetryAfter, translateError } from './translate-error.js';

const NOW = Date.parse('Wed, 21 Oct 2026 07:28:00 GMT');

describe('parseRetryAfter', () => {
  it.each([
    ['120', 120_000],
    [' 0 ', 0],
    ['Wed, 21 Oct 2026 07:28:30 GMT', 30_000],
    ['Wed, 21 Oct 2026 07:00:00 GMT', 0],
    ['soon', undefined],
    [null, undefined],
    ['', undefined],
  ])('%j → %j', (value, ms) => {
    expect(parseRetryAfter(value, NOW)).toBe(ms);
  });
});

describe('errorFromResponse', () => {
  const res = (status: number, headers: Record<string, string> = {}) => new Response(null, { status, headers });
  it.each([
    [500, '{"error":"server_error"}', TransientError, undefined],
    [502, '<html>Bad gateway</html>', TransientError, undefined],
    [429, '{"error":"rate_limited"}', TransientError, undefined],
    [408, '', TransientError, undefined],
    [400, '{"error":"invalid_grant","error_description":"Invalid JWT Signature."}', ProviderError, 'invalid_grant'],
    [401, '{"error":"invalid_client"}', ProviderError, 'invalid_client'],
    [200, '{"error":"bad_refresh_token"}', ProviderError, 'bad_refresh_token'],
    [404, '<html>Not found</html>', TransientError, undefined],
  ] as const)('HTTP %i %s', (status, body, cls, error) => {
    const err = errorFromResponse('x', res(status), body, NOW);
    expect(err).toBeInstanceOf(cls);
    if (error) expect((err as ProviderError).error).toBe(error);
  });

  it('a success body is no error', () => {
    expect(errorFromResponse('x', res(200), '{"access_token":"a"}', NOW)).toBeNull();
  });

  it('carries Retry-After', () => {
    expect((errorFromResponse('x', res(429, { 'retry-after': '3' }), '', NOW) as TransientError).retryAfterMs).toBe(
      3000,
    );
  });
});

describe('translateError', () => {
  it('network failures and timeouts are transient, with a message that says which', () => {
    const net = Object.assign(new TypeError('fetch failed'), {
      cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
    });
    expect(translateError(net, { what: 'token refresh', now: NOW }).message).toMatch(
      /token refresh: network error.*ECONNREFUSED/,
    );
    const timeout = new DOMException('The operation was aborted due to timeout', 'TimeoutError');
    const t = translateError(timeout, { what: 'token refresh', now: NOW, timeoutMs: 15_000 });
    expect(t).toBeInstanceOf(TransientError);
    expect(t.message).toMatch(/within 15000 ms/);
  });

  it('never keeps a payload in the cause chain', () => {
    const leaky = Object.assign(new Error('invalid response encountered'), { cause: { access_token: 'SECRET-AT' } });
    const t = translateError(leaky, { what: 'x', now: NOW });
    for (let e: unknown = t; e instanceof Error; e = e.cause) expect(`${e.message}`).not.toContain('SECRET-AT');
    expect((t.cause as Error & { cause?: unknown }).cause).toBeUndefined();
  });
});

describe('toTokenSet', () => {
  it.each([
    [
      { access_token: 'a', token_type: 'bearer' },
      { accessToken: 'a', tokenType: 'Bearer' },
    ],
    [
      { access_token: 'a', token_type: 'DPoP', expires_in: 10 },
      { accessToken: 'a', tokenType: 'DPoP', expiresAt: NOW + 10_000 },
    ],
    [
      { access_token: 'a', expires_in: '60', refresh_token: 'r', refresh_token_expires_in: 100 },
      {
        accessToken: 'a',
        tokenType: 'Bearer',
        expiresAt: NOW + 60_000,
        refreshToken: 'r',
        refreshExpiresAt: NOW + 100_000,
      },
    ],
    [
      { access_token: 'a', refresh_token: '' },
      { accessToken: 'a', tokenType: 'Bearer' },
    ],
  ])('%j', (body, expected) => {
    expect(toTokenSet(body, NOW)).toEqual(expected);
  });

  it('no access_token is a malformed (transient) answer', () => {
    expect(() => toTokenSet({ token_type: 'bearer' }, NOW)).toThrow(TransientError);
  });
});

describe('isLoopbackHost', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.8.9.10', true],
    ['localhost', true],
    ['[::1]', true],
    ['::1', true],
    ['128.0.0.1', false],
    ['127.0.0.1.nip.io', false],
    ['example.com', false],
    ['10.0.0.1', false],
  ])('%s → %s', (h, v) => {
    expect(isLoopbackHost(h)).toBe(v);
  });
});
