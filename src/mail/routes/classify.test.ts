import { describe, expect, it } from 'vitest';
import { ReauthRequiredError, TransientError } from '../../core/errors.js';
import { toRouteError } from '../errors.js';
import { classifyHttp } from './http.js';
import { classifyImap } from './imap.js';
import { classifySmtp } from './smtp.js';

describe('failure classification at the route boundary', () => {
  it.each([
    [401, null, 'auth'],
    [403, { error: { errors: [{ reason: 'insufficientPermissions' }] } }, 'auth'],
    [403, { error: { errors: [{ reason: 'userRateLimitExceeded' }] } }, 'transient'],
    [403, { error: { errors: [{ reason: 'dailyLimitExceeded' }] } }, 'transient'],
    [429, null, 'transient'],
    [500, null, 'transient'],
    [503, null, 'transient'],
    [400, null, 'permanent'],
    [413, null, 'permanent'],
  ] as const)('HTTP %s %j → %s', (status, body, kind) => {
    expect(classifyHttp(status, body as Parameters<typeof classifyHttp>[1])).toBe(kind);
  });

  it.each([
    [{ code: 'EAUTH', responseCode: 535 }, 'auth'],
    [{ code: 'EAUTH', responseCode: 534 }, 'auth'],
    [{ code: 'EAUTH', responseCode: 454 }, 'transient'],
    [{ code: 'EENVELOPE', responseCode: 550 }, 'permanent'],
    [{ code: 'EMESSAGE', responseCode: 552 }, 'permanent'],
    [{ code: 'EENVELOPE', responseCode: 451 }, 'transient'],
    [{ code: 'ECONNECTION' }, 'transient'],
    [{ code: 'ETIMEDOUT' }, 'transient'],
  ] as const)('SMTP %j → %s', (e, kind) => {
    expect(classifySmtp(Object.assign(new Error('x'), e))).toBe(kind);
  });

  it.each([
    [{ authenticationFailed: true }, 'auth'],
    [{ serverResponseCode: 'AUTHENTICATIONFAILED' }, 'auth'],
    [{ code: 'ECONNREFUSED' }, 'transient'],
  ] as const)('IMAP %j → %s', (e, kind) => {
    expect(classifyImap(Object.assign(new Error('x'), e))).toBe(kind);
  });

  it('TokenSource errors: ReauthRequired → auth, Transient → transient with Retry-After', () => {
    const r = toRouteError('gmail:g', new ReauthRequiredError('g', { id: 'revoked', summary: 's', fix: 'f' }));
    expect(r.kind).toBe('auth');
    const t = toRouteError('gmail:g', new TransientError('down', { status: 503, retryAfterMs: 1000 }));
    expect(t).toMatchObject({ kind: 'transient', retryAfterMs: 1000, status: 503 });
  });
});
