/**
 * Reading falls back Gmail → IMAP against a real Dovecot; XOAUTH2 to Dovecot and to the SMTP
 * server with tokens from a real oidc-provider, checked there by RFC 7662 introspection.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReauthRequiredError } from '../../src/core/errors.js';
import { RouteError } from '../../src/mail/errors.js';
import { createMailService } from '../../src/mail/index.js';
import { ImapRoute } from '../../src/mail/routes/imap.js';
import { startDovecot, type DovecotPeer } from '../peers/dovecot.js';
import { startGmailFake, type GmailFake } from '../peers/gmail-fake.js';
import { startOidcProvider, type OidcPeer } from '../peers/oidc-provider.js';
import { startSmtpPeer, type SmtpPeer } from '../peers/smtp.js';
import {
  FakeClock,
  RecordingEvents,
  StubTokens,
  googleConn,
  mailConfig,
  obtainAccessToken,
  openTestStore,
  silentLogger,
  type TestStore,
} from './helpers.js';

const USER = 'agent@example.com';
const APP_PASSWORD = 'imap-app-password-1';
let oidc: OidcPeer;
let dovecot: DovecotPeer;
let gmail: GmailFake;
let smtp: SmtpPeer;
let ts: TestStore;
const clock = new FakeClock(Date.now());
const base = Date.UTC(2026, 0, 5, 9);

const introspectionUrlWithClient = (p: OidcPeer): string => {
  const u = new URL(p.introspectionUrl);
  u.username = encodeURIComponent(p.clientId);
  u.password = encodeURIComponent(p.clientSecret);
  return u.href;
};
const activeFor = (p: OidcPeer) => async (token: string, user?: string) => {
  const r = await p.introspect(token);
  return r.active === true && (user === undefined || r.sub === user);
};

beforeAll(async () => {
  oidc = await startOidcProvider({ accessTokenTtl: 600, refreshTokenTtl: 3600 });
  dovecot = await startDovecot({
    passwords: { [USER]: APP_PASSWORD },
    introspectionUrl: introspectionUrlWithClient(oidc),
  });
  dovecot.seed(USER, {
    from: '"Alice" <alice@example.org>',
    to: USER,
    subject: 'old news',
    date: new Date(base - 3 * 86_400_000),
  });
  dovecot.seed(USER, {
    from: 'carol@example.org',
    to: USER,
    subject: 'fresh invoice',
    date: new Date(base + 3_600_000),
    messageId: '<inv-1@example.org>',
  });
  gmail = await startGmailFake({ verifyToken: activeFor(oidc) });
  smtp = await startSmtpPeer({ passwords: { [USER]: APP_PASSWORD }, verifyToken: activeFor(oidc) });
  ts = openTestStore();
});

afterAll(async () => {
  await Promise.allSettled([dovecot?.stop(), gmail?.stop(), smtp?.stop(), oidc?.stop(), ts?.cleanup()]);
});

describe('read fallback and XOAUTH2', () => {
  it('falls back from Gmail (grant revoked) to IMAP with the App Password, one normalised shape', async () => {
    const tokens = new StubTokens();
    tokens.revoke('gmail');
    const events = new RecordingEvents();
    const svc = createMailService({
      config: mailConfig(
        {
          agent: {
            address: USER,
            read: [
              { gmail: { connection: 'gmail', api_base: gmail.url } },
              { imap: { host: dovecot.host, port: dovecot.port, secure: false, user: USER, password: APP_PASSWORD } },
            ],
          },
        },
        { gmail: googleConn() },
      ),
      store: ts.store,
      tokens,
      clock,
      logger: silentLogger,
      events,
      owner: 'r',
    });
    try {
      const res = await svc.mailbox('agent').list({ since: new Date(base), limit: 10 });
      expect(res.route).toBe(`imap:${dovecot.host}`);
      expect(res.fellBackFrom).toEqual(['gmail:gmail']);
      expect(res.messages).toEqual([
        {
          id: expect.stringMatching(/^\d+$/),
          messageId: '<inv-1@example.org>',
          from: 'carol@example.org',
          to: [USER],
          subject: 'fresh invoice',
          date: new Date(base + 3_600_000).toISOString(),
          route: `imap:${dovecot.host}`,
        },
      ]);
      expect(events.ofType('mail_failover')[0]?.data).toMatchObject({
        direction: 'read',
        from: ['gmail:gmail'],
        to: `imap:${dovecot.host}`,
      });
      const all = await svc.mailbox('agent').list({});
      expect(all.messages.map((m) => m.subject)).toEqual(['fresh invoice', 'old news']);
    } finally {
      await svc.stop();
    }
  });

  it('with every read route refusing auth, list throws the ReauthRequiredError (exit code 3 path)', async () => {
    const tokens = new StubTokens();
    tokens.revoke('gmail');
    const svc = createMailService({
      config: mailConfig(
        {
          agent: {
            address: USER,
            read: [
              { gmail: { connection: 'gmail', api_base: gmail.url } },
              { imap: { host: dovecot.host, port: dovecot.port, secure: false, user: USER, password: 'wrong' } },
            ],
          },
        },
        { gmail: googleConn() },
      ),
      store: ts.store,
      tokens,
      clock,
      logger: silentLogger,
      events: new RecordingEvents(),
      owner: 'r',
    });
    try {
      await expect(svc.mailbox('agent').list({})).rejects.toBeInstanceOf(ReauthRequiredError);
    } finally {
      await svc.stop();
    }
  });

  it('a wrong IMAP password is an auth failure (AUTHENTICATIONFAILED)', async () => {
    const r = new ImapRoute({
      id: 'imap:x',
      host: dovecot.host,
      port: dovecot.port,
      secure: false,
      user: USER,
      password: 'nope',
      tokens: new StubTokens(),
    });
    const e = await r.probe().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(RouteError);
    expect((e as RouteError).kind).toBe('auth');
    expect((e as RouteError).message).not.toContain('nope');
  });

  it('IMAP down is transient', async () => {
    const r = new ImapRoute({
      id: 'imap:x',
      host: '127.0.0.1',
      port: 1,
      secure: false,
      user: USER,
      password: 'x',
      tokens: new StubTokens(),
    });
    const e = await r.probe().catch((x: unknown) => x);
    expect((e as RouteError).kind).toBe('transient');
  });

  it('XOAUTH2 with a real token: Dovecot and the SMTP server accept it via introspection; revocation fails over to the App Password', async () => {
    const token = await obtainAccessToken(oidc, USER);
    const tokens = new StubTokens().set('sandbox', token);
    const events = new RecordingEvents();
    const svc = createMailService({
      config: mailConfig(
        {
          agent: {
            address: USER,
            send: [
              { smtp: { host: smtp.host, port: smtp.port, secure: false, user: USER, connection: 'sandbox' } },
              { smtp: { host: smtp.host, port: smtp.port, secure: false, user: USER, password: APP_PASSWORD } },
            ],
            read: [
              { imap: { host: dovecot.host, port: dovecot.port, secure: false, user: USER, connection: 'sandbox' } },
              { imap: { host: dovecot.host, port: dovecot.port, secure: false, user: USER, password: APP_PASSWORD } },
            ],
          },
        },
        {
          sandbox: {
            provider: 'oidc',
            issuer: oidc.issuer,
            client_id: oidc.clientId,
            client_secret: oidc.clientSecret,
            scopes: ['openid', 'offline_access'],
          },
        },
      ),
      store: ts.store,
      tokens,
      clock,
      logger: silentLogger,
      events,
      owner: 'x',
    });
    try {
      const read1 = await svc.mailbox('agent').list({ limit: 5 });
      expect(read1.route).toBe(`imap:${dovecot.host}`);
      expect(read1.fellBackFrom).toBeUndefined();
      const s1 = await svc.mailbox('agent').send({ to: 'bob@example.org', subject: 'xoauth2', text: 'a' });
      expect(s1.route).toBe(`smtp:${smtp.host}`);
      expect(smtp.received.at(-1)?.user).toBe(USER);

      // The user removes the app's access: the same token is now refused by both servers.
      await oidc.revokeGrantsFor(USER);
      // The server drops its sessions (the pooled client must authenticate again).
      await smtp.setDown(true);
      await smtp.setDown(false);
      const s2 = await svc.mailbox('agent').send({ to: 'bob@example.org', subject: 'after revoke', text: 'b' });
      expect(s2).toMatchObject({ status: 'sent', route: `smtp:${smtp.host}#2` });
      expect(smtp.authFailures.at(-1)).toMatchObject({ method: 'XOAUTH2' });
      expect(events.ofType('mail_failover').at(-1)?.data).toMatchObject({
        from: [`smtp:${smtp.host}`],
        to: `smtp:${smtp.host}#2`,
      });
      const read2 = await svc.mailbox('agent').list({ limit: 5 });
      expect(read2).toMatchObject({ route: `imap:${dovecot.host}#2`, fellBackFrom: [`imap:${dovecot.host}`] });
      expect(JSON.stringify(events.events)).not.toContain(token);
    } finally {
      await svc.stop();
    }
  });
});
