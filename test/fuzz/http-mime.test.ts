/**
 * Bad input: random bodies, headers, methods and paths into the Hono app
 * (`app.request`, no socket) and random MailMessage objects into mail validation. No request may
 * end in a 500 or an unhandled exception; every refusal is the JSON error body with a TW_* code;
 * every rejected message is a MailInputError naming the field.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenwardenError } from '../../src/core/errors.js';
import { MailInputError } from '../../src/mail/errors.js';
import { prepareOutgoing } from '../../src/mail/message.js';
import { API_KEY, startHarness, type Harness } from '../server/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({
    mailboxes: {
      agent: {
        address: 'agent@example.com',
        send: [
          {
            smtp: {
              host: '127.0.0.1',
              port: 9,
              secure: false,
              user: 'agent@example.com',
              password: 'fuzz-app-password',
            },
          },
        ],
      },
    },
  });
}, 60_000);
afterAll(async () => {
  await h?.close();
});

const path = fc.oneof(
  fc.constantFrom(
    '/api/v1/connections',
    '/api/v1/connections/sandbox',
    '/api/v1/connections/sandbox/token',
    '/api/v1/connections/nope/token',
    '/api/v1/connections/sandbox/reauth',
    '/api/v1/flows/complete',
    '/api/v1/mailboxes/agent/send',
    '/api/v1/mailboxes/nope/send',
    '/api/v1/events?since=-1&limit=abc',
    '/api/v1/dashboard/login-link',
    '/oauth/callback?code=x&state=y',
    '/oauth/callback?error=access_denied&error_description=%3Cscript%3E',
    '/healthz',
    '/metrics',
    '/login',
    '/',
    '/flows/zz/qr.svg',
  ),
  fc.webPath().map((p) => `/api/v1${p}`),
);
const jsonBody = fc.oneof(
  fc.json({ maxDepth: 3 }),
  fc
    .record(
      {
        input: fc.oneof(
          fc.string({ maxLength: 100 }),
          fc.integer(),
          fc.constant('http://127.0.0.1:1/oauth/callback?code=abc&state=nope'),
        ),
      },
      { requiredKeys: [] },
    )
    .map((o) => JSON.stringify(o)),
  fc
    .record(
      {
        to: fc.oneof(fc.string({ maxLength: 40 }), fc.array(fc.string({ maxLength: 20 }), { maxLength: 3 })),
        subject: fc.oneof(fc.string({ maxLength: 40 }), fc.integer()),
        text: fc.string({ maxLength: 40 }),
        headers: fc.dictionary(fc.string({ maxLength: 10 }), fc.string({ maxLength: 20 }), { maxKeys: 2 }),
        attachments: fc.array(
          fc.record({ filename: fc.string({ maxLength: 10 }), content: fc.string({ maxLength: 20 }) }),
          { maxLength: 2 },
        ),
      },
      { requiredKeys: [] },
    )
    .map((o) => JSON.stringify(o)),
  fc.string({ maxLength: 200 }),
  fc.constantFrom('', '{', '{"input":', 'null', '[]', '\u0000\u0001'),
);
const request = fc.record({
  method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH'),
  path,
  body: jsonBody,
  contentType: fc.constantFrom(
    'application/json',
    'text/plain',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    '',
  ),
  auth: fc.constantFrom(`Bearer ${API_KEY}`, 'Bearer wrong', '', 'Basic Zm9vOmJhcg==', `bearer ${API_KEY}`),
});

describe('HTTP API on arbitrary requests', () => {
  it('never answers 500; every error is JSON with a TW_* code (or the dashboard/metrics page)', async () => {
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const headers = new Headers();
        if (r.contentType) headers.set('content-type', r.contentType);
        if (r.auth) headers.set('authorization', r.auth);
        const res = await h.app.request(r.path, {
          method: r.method,
          headers,
          ...(r.method === 'GET' ? {} : { body: r.body }),
        });
        expect(res.status, `${r.method} ${r.path}`).toBeLessThan(500);
        const text = await res.text();
        if (res.status >= 400 && r.path.startsWith('/api/')) {
          const body = JSON.parse(text) as { error?: { code?: string; message?: string } };
          expect(body.error?.code).toMatch(/^TW_[A-Z_]+$/);
          expect(body.error?.message?.length).toBeGreaterThan(3);
        }
      }),
      { numRuns: 300 },
    );
  }, 60_000);

  it('found by fuzzing: a malformed multipart body on a dashboard form is a 4xx, not a 500', async () => {
    const res = await h.app.request('/login', {
      method: 'POST',
      headers: { 'content-type': 'multipart/form-data; boundary=x' },
      body: '',
    });
    expect(res.status).toBe(401);
  });
});

const addr = fc.oneof(
  fc.emailAddress(),
  fc.string({ maxLength: 30 }),
  fc.constantFrom(
    '"Bob" <bob@example.org>',
    'a@b',
    'x\r\nBcc: evil@example.com',
    '<>',
    'bob@example.org, carol@example.org',
  ),
);
const message = fc.record(
  {
    from: addr,
    to: fc.oneof(addr, fc.array(addr, { maxLength: 3 }), fc.anything()),
    cc: fc.oneof(addr, fc.array(addr, { maxLength: 2 })),
    subject: fc.oneof(fc.string({ maxLength: 60 }), fc.constant('hi\r\nBcc: evil@example.com'), fc.anything()),
    text: fc.oneof(fc.string({ maxLength: 200 }), fc.anything()),
    html: fc.string({ maxLength: 100 }),
    headers: fc.oneof(
      fc.dictionary(fc.string({ maxLength: 12 }), fc.oneof(fc.string({ maxLength: 20 }), fc.anything()), {
        maxKeys: 3,
      }),
      fc.constant({ 'X-Ok': 'a\nb' }),
    ),
    attachments: fc.array(
      fc.record(
        {
          filename: fc.oneof(fc.string({ maxLength: 20 }), fc.anything()),
          content: fc.oneof(fc.base64String({ maxLength: 40 }), fc.string({ maxLength: 20 }), fc.anything()),
          contentType: fc.option(fc.string({ maxLength: 20 }), { nil: undefined }),
        },
        { requiredKeys: [] },
      ),
      { maxLength: 2 },
    ),
    inReplyTo: fc.oneof(fc.constant('<a@b.c>'), fc.string({ maxLength: 20 })),
    references: fc.oneof(fc.constant(['<a@b.c>']), fc.array(fc.string({ maxLength: 10 }), { maxLength: 2 })),
    idempotencyKey: fc.oneof(fc.string({ maxLength: 250 }), fc.anything()),
  },
  { requiredKeys: [] },
);

describe('MIME input on arbitrary messages', () => {
  it('composes or refuses with a MailInputError naming the field; never a header injection', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(message, fc.anything()), async (m) => {
        try {
          const p = await prepareOutgoing(m as never, {
            mailboxAddress: 'agent@example.com',
            maxBytes: 1_000_000,
            now: Date.UTC(2026, 0, 1),
          });
          const raw = Buffer.from(JSON.parse(Buffer.from(JSON.stringify(p)).toString()).raw ?? '', 'base64').toString(
            'latin1',
          );
          expect(raw).not.toMatch(/^Bcc: evil@example\.com/m);
        } catch (e) {
          expect(e).toBeInstanceOf(TokenwardenError);
          expect(e).toBeInstanceOf(MailInputError);
          expect((e as MailInputError).field.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 400 },
    );
  });
});
