/**
 * A mail server or API that echoes the credential it was given in its error text: the route's
 * error (what lands in the outbox's lastError, events, route health and every face) carries
 * neither the App Password nor the access token, in any form the login put on the wire.
 */
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { afterAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/core/clock.js';
import { RouteError } from '../../src/mail/errors.js';
import { bearerJson } from '../../src/mail/routes/http.js';
import { SmtpRoute } from '../../src/mail/routes/smtp.js';
import { bearerOf, listenHttp, sendJson } from '../peers/http-fake.js';

const APP_PASSWORD = 'hostile-app-password-0123456789';
const ACCESS = 'ya29.hostile-access-token-abcdefghijklmnopqrstuvwxyz';
const stops: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const s of stops) await s();
});

function expectClean(text: string, secrets: string[]): void {
  for (const s of secrets) {
    expect(text).not.toContain(s);
    expect(text).not.toContain(s.slice(0, 16));
    expect(text).not.toContain(Buffer.from(s).toString('base64').slice(0, 16));
  }
}

describe('a mail peer echoing the credential in its error', () => {
  it('Gmail/Graph API: the bearer token in error.message is scrubbed', async () => {
    const api = await listenHttp(async (req, res) => {
      sendJson(res, 400, {
        error: { code: 400, status: 'INVALID_ARGUMENT', message: `cannot use ${bearerOf(req) ?? ''} for this request` },
      });
    });
    stops.push(api.stop);
    const err = await bearerJson(
      'gmail:g',
      { tokens: { accessToken: () => Promise.resolve(ACCESS) }, connection: 'g', fetch, clock: systemClock },
      `${api.url}/gmail/v1/users/me/messages/send`,
      { method: 'POST', body: '{}', contentType: 'application/json' },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RouteError);
    expect((err as Error).message).toMatch(
      /^gmail:g: HTTP 400 INVALID_ARGUMENT: cannot use \[redacted\] for this request$/,
    );
    expectClean(`${(err as Error).message} ${JSON.stringify(err)}`, [ACCESS]);
  });

  it('SMTP: an AUTH refusal quoting the App Password and the PLAIN credential is scrubbed', async () => {
    const server = new SMTPServer({
      authMethods: ['PLAIN'],
      allowInsecureAuth: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      closeTimeout: 100,
      onAuth(auth, _session, cb) {
        const plain = Buffer.from(`\u0000${auth.username ?? ''}\u0000${auth.password ?? ''}`).toString('base64');
        cb(new Error(`refused ${auth.password ?? ''} (sent ${plain})`));
      },
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    stops.push(() => new Promise<void>((r) => server.close(() => r())));
    const route = new SmtpRoute({
      id: 'smtp:test',
      host: '127.0.0.1',
      port: (server.server.address() as AddressInfo).port,
      secure: false,
      user: 'agent@example.com',
      password: APP_PASSWORD,
      tokens: { accessToken: () => Promise.reject(new Error('not used')) },
      timeoutMs: 5_000,
    });
    const err = await route.probe().catch((e: unknown) => e);
    await route.close?.();
    expect(err).toBeInstanceOf(RouteError);
    expect((err as Error).message).toMatch(/refused \[redacted\] \(sent \[redacted\]\)/);
    expectClean(`${(err as Error).message} ${JSON.stringify(err)}`, [
      APP_PASSWORD,
      `\u0000agent@example.com\u0000${APP_PASSWORD}`,
    ]);
  });
});
