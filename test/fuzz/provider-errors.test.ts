/**
 * Bad input: what a token endpoint may answer — random statuses, headers and bodies
 * (JSON, almost-JSON, HTML, binary) — through the real grant client (openid-client + the
 * provider fetch + translate-error.ts). Every failure leaves as a TokenwardenError with a code;
 * only an OAuth error body from a non-5xx/429/408 answer may be definitive (ProviderError), so
 * garbage can never move a connection to reauth_required; 429/503 keep their Retry-After.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { FakeClock } from '../../src/core/clock.js';
import { ProviderError, TokenwardenError, TransientError } from '../../src/core/errors.js';
import { isDefinitiveOAuthError } from '../../src/core/refresh-policy.js';
import { createGrantClient } from '../../src/oauth/grant-client.js';
import { errorFromResponse, translateError } from '../../src/oauth/translate-error.js';
import { resolveProfile } from '../../src/providers/index.js';

const cfg = parseConfig(
  {
    store: ':memory:',
    key: 'env:K',
    connections: {
      a: {
        provider: 'oauth2',
        client_id: 'fuzz',
        client_secret: 'fuzz-secret',
        auth_url: 'https://id.example.com/auth',
        token_url: 'https://id.example.com/token',
        scopes: ['api'],
      },
      g: { provider: 'github', client_id: 'fuzz', client_secret: 'fuzz-secret' },
    },
  },
  {},
);

const oauthCode = fc.oneof(
  fc.constantFrom(
    'invalid_grant',
    'invalid_client',
    'server_error',
    'temporarily_unavailable',
    'slow_down',
    'invalid_request',
    'bad_refresh_token',
  ),
  fc.string({ maxLength: 20 }),
);
const body = fc.oneof(
  fc
    .record(
      { error: oauthCode, error_description: fc.option(fc.string({ maxLength: 50 }), { nil: undefined }) },
      { requiredKeys: ['error'] },
    )
    .map((o) => JSON.stringify(o)),
  fc
    .record(
      {
        access_token: fc.oneof(fc.string({ maxLength: 20 }), fc.integer(), fc.constant(null)),
        token_type: fc.oneof(fc.constantFrom('Bearer', 'bearer', 'mac'), fc.integer()),
        expires_in: fc.oneof(fc.integer({ min: -10, max: 1e9 }), fc.string({ maxLength: 5 }), fc.double()),
        refresh_token: fc.option(fc.oneof(fc.string({ maxLength: 20 }), fc.integer()), { nil: undefined }),
        scope: fc.option(fc.string({ maxLength: 10 }), { nil: undefined }),
      },
      { requiredKeys: [] },
    )
    .map((o) => JSON.stringify(o)),
  fc.json({ maxDepth: 2 }),
  fc.string({ maxLength: 80 }),
  fc.constantFrom(
    '',
    '{"access_token": "trunc',
    '<!DOCTYPE html><h1>502 Bad Gateway</h1>',
    'null',
    '[]',
    '{"error":{}}',
    '{"error":""}',
  ),
);
const status = fc.oneof(
  fc.constantFrom(200, 400, 401, 403, 404, 408, 429, 500, 502, 503, 504),
  fc.integer({ min: 200, max: 599 }),
);
const headers = fc.record(
  {
    'content-type': fc.constantFrom(
      'application/json',
      'application/json; charset=utf-8',
      'text/html',
      'text/plain',
      'application/x-www-form-urlencoded',
    ),
    'retry-after': fc.option(
      fc.oneof(
        fc.nat({ max: 100_000 }).map(String),
        fc.string({ maxLength: 12 }),
        fc.date({ noInvalidDate: true }).map((d) => d.toUTCString()),
      ),
      { nil: undefined },
    ),
    'www-authenticate': fc.option(fc.constantFrom('Bearer error="invalid_token"', 'Basic realm="x"', 'garbage ,,='), {
      nil: undefined,
    }),
  },
  { requiredKeys: ['content-type'] },
);
const answer = fc.record({ status, headers, body });

function stubFetch(a: { status: number; headers: Record<string, string | undefined>; body: string }): typeof fetch {
  const h = Object.fromEntries(Object.entries(a.headers).filter((e): e is [string, string] => e[1] !== undefined));
  return () =>
    Promise.resolve(
      new Response(a.status === 204 || a.status === 205 || a.status === 304 ? null : a.body, {
        status: a.status,
        headers: h,
      }),
    );
}

function jsonOauthError(text: string): string | null {
  try {
    const b = JSON.parse(text) as unknown;
    return b && typeof b === 'object' && typeof (b as { error?: unknown }).error === 'string'
      ? (b as { error: string }).error
      : null;
  } catch {
    return null;
  }
}

describe('provider answers into the real grant client', () => {
  it.each(['a', 'g'])('refresh (%s): a TokenSet or a coded error; garbage is never definitive', async (conn) => {
    const c = cfg.connections[conn] as NonNullable<(typeof cfg.connections)[string]>;
    const profile = resolveProfile(c);
    const clock = new FakeClock(Date.UTC(2026, 0, 1));
    await fc.assert(
      fc.asyncProperty(answer, async (a) => {
        const client = createGrantClient(c, profile, { fetch: stubFetch(a), clock });
        let result: unknown;
        try {
          result = await client.refresh('rt-fuzz');
        } catch (e) {
          expect(e).toBeInstanceOf(TokenwardenError);
          const err = e as TokenwardenError;
          expect(err.code).toMatch(/^TW_[A-Z_]+$/);
          expect(err.message.length).toBeGreaterThan(5);
          if (a.status >= 500 || a.status === 429 || a.status === 408) expect(err).toBeInstanceOf(TransientError);
          if (err instanceof ProviderError && isDefinitiveOAuthError(err.error)) {
            // Definitive only from an OAuth error body, or a 400/401 authentication challenge (RFC 6749 §5.2).
            // (a 200 carrying `error` is read as the 400 it means: GitHub). Known limit: with both a
            // challenge and an OAuth body, the challenge names the error (diagnosis, not state, differs).
            const relabelled = a.status === 200 && jsonOauthError(a.body) !== null;
            const challenged =
              a.headers['www-authenticate'] !== undefined && (a.status === 400 || a.status === 401 || relabelled);
            if (!challenged) expect(jsonOauthError(a.body)).toBe(err.error);
          }
          if (a.status === 429 && /^\d+$/.test(a.headers['retry-after'] ?? ''))
            expect((err as TransientError).retryAfterMs).toBe(Number(a.headers['retry-after']) * 1000);
          return;
        }
        const t = result as { accessToken: unknown; tokenType: unknown };
        expect(a.status).toBeLessThan(300);
        expect(typeof t.accessToken).toBe('string');
        expect((t.accessToken as string).length).toBeGreaterThan(0);
      }),
      { numRuns: 250 },
    );
  });

  it('errorFromResponse and translateError: always a TokenwardenError (or null for a success)', () => {
    fc.assert(
      fc.property(answer, fc.anything(), (a, thrown) => {
        const h = Object.fromEntries(
          Object.entries(a.headers).filter((e): e is [string, string] => e[1] !== undefined),
        );
        const res = new Response(null, { status: a.status, headers: h });
        const r = errorFromResponse('token refresh', res, a.body, Date.UTC(2026, 0, 1));
        if (r !== null) expect(r).toBeInstanceOf(TokenwardenError);
        else expect(a.status).toBeLessThan(400);
        if (r instanceof TransientError && r.retryAfterMs !== undefined)
          expect(r.retryAfterMs).toBeGreaterThanOrEqual(0);
        const t = translateError(thrown, { what: 'token refresh', now: 0 });
        expect(t).toBeInstanceOf(TokenwardenError);
        expect(t.message).not.toBe('');
      }),
      { numRuns: 400 },
    );
  });

  it('found by fuzzing: a proxy 404 with an authentication challenge is transient; a thrown null is translated', async () => {
    const c = cfg.connections['a'] as NonNullable<(typeof cfg.connections)[string]>;
    const client = createGrantClient(c, resolveProfile(c), {
      fetch: stubFetch({
        status: 404,
        headers: { 'content-type': 'text/html', 'www-authenticate': 'Basic realm="corp-proxy"' },
        body: '<h1>Not found</h1>',
      }),
      clock: new FakeClock(),
    });
    await expect(client.refresh('rt')).rejects.toBeInstanceOf(TransientError);
    const refused = createGrantClient(c, resolveProfile(c), {
      fetch: stubFetch({
        status: 401,
        headers: { 'content-type': 'application/json', 'www-authenticate': 'Basic realm="id"' },
        body: '',
      }),
      clock: new FakeClock(),
    });
    await expect(refused.refresh('rt')).rejects.toMatchObject({ error: 'invalid_client' });
    expect(translateError(null, { what: 'x', now: 0 })).toBeInstanceOf(TransientError);
    // A thrown object whose toString is not callable (String() would throw).
    expect(translateError({ toString: 0 }, { what: 'x', now: 0 }).message).toMatch(/a thrown object value/);
  });
});
