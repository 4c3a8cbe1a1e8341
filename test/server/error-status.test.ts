/** Issue 5: one place maps error codes to HTTP statuses; every code has a deliberate status. */
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { ReauthRequiredError, TokenwardenError, TransientError, type ErrorCode } from '../../src/core/errors.js';
import { RateLimitedError, errorResponse, statusForCode } from '../../src/server/error-status.js';

describe('statusForCode', () => {
  it.each([
    ['TW_BAD_INPUT', 400],
    ['TW_USAGE', 400],
    ['TW_UNAUTHORIZED', 401],
    ['TW_NOT_FOUND', 404],
    ['TW_REAUTH_REQUIRED', 409],
    ['TW_CONFLICT', 409],
    ['TW_RATE_LIMITED', 429],
    ['TW_FORBIDDEN', 403],
    ['TW_TOO_LARGE', 413],
    ['TW_INTERNAL', 500],
    ['TW_CONFIG', 500],
    ['TW_STORE', 500],
    ['TW_KEY', 500],
    ['TW_PROVIDER_ERROR', 502],
    ['TW_MAIL', 502],
    ['TW_PROVIDER_UNAVAILABLE', 503],
    ['TW_TIMEOUT', 504],
  ] satisfies Array<[ErrorCode, number]>)('%s → %i', (code, status) => {
    expect(statusForCode(code)).toBe(status);
  });

  it('unknown codes are internal errors', () => {
    expect(statusForCode('TW_SOMETHING_NEW')).toBe(500);
  });
});

describe('errorResponse', () => {
  const answer = async (err: unknown): Promise<Response> => {
    const app = new Hono();
    app.get('/', (c) => errorResponse(c, err));
    return app.request('/');
  };

  it('wraps the error JSON, with Retry-After for transient and rate-limit errors', async () => {
    const t = await answer(new TransientError('down', { retryAfterMs: 2_500 }));
    expect(t.status).toBe(503);
    expect(t.headers.get('retry-after')).toBe('3');
    expect(await t.json()).toEqual({ error: { code: 'TW_PROVIDER_UNAVAILABLE', message: 'down' } });
    const r = await answer(new RateLimitedError(30_000));
    expect(r.status).toBe(429);
    expect(r.headers.get('retry-after')).toBe('30');
    const reauth = await answer(
      new ReauthRequiredError(
        'gmail',
        { id: 'revoked', summary: 'Revoked.', fix: 'Reconnect.' },
        { reauth: { url: 'https://x/auth' } },
      ),
    );
    expect(reauth.status).toBe(409);
    expect(await reauth.json()).toMatchObject({
      error: {
        code: 'TW_REAUTH_REQUIRED',
        connection: 'gmail',
        cause: { id: 'revoked' },
        reauth: { url: 'https://x/auth' },
      },
    });
  });

  it('hides the text of unexpected errors', async () => {
    const res = await answer(new Error('SELECT secret FROM somewhere'));
    expect(res.status).toBe(500);
    expect(await res.text()).not.toContain('secret');
    const known = await answer(new TokenwardenError('TW_STORE', 'store is locked'));
    expect(known.status).toBe(500);
    expect(((await known.json()) as { error: { message: string } }).error.message).toBe('store is locked');
  });
});
