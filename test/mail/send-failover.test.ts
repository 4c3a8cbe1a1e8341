/**
 * Send path end to end against real peers: the Gmail REST fake and a real SMTP server, a real
 * SQLite store, time driven by FakeClock.
 */
import { readFileSync, existsSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MailInputError } from '../../src/mail/errors.js';
import { createMailService, type MailMessage, type MailService } from '../../src/mail/index.js';
import { startGmailFake, type GmailFake } from '../peers/gmail-fake.js';
import { startSmtpPeer, type SmtpPeer } from '../peers/smtp.js';
import {
  FakeClock,
  RecordingEvents,
  StatefulStubTokens,
  StubTokens,
  googleConn,
  mailConfig,
  openTestStore,
  silentLogger,
  type TestStore,
} from './helpers.js';

const TOKEN = 'ya29.gmail-access-token-abcdef0123456789';
const APP_PASSWORD = 'abcd efgh ijkl mnop';

let gmail: GmailFake;
let smtp: SmtpPeer;
let ts: TestStore;
let clock: FakeClock;
let events: RecordingEvents;
let tokens: StubTokens;
let svc: MailService;

function build(t: StubTokens = tokens, owner = 'proc-a'): MailService {
  const config = mailConfig(
    {
      agent: {
        address: 'agent@example.com',
        send: [
          { gmail: { connection: 'gmail', api_base: gmail.url } },
          {
            smtp: {
              host: smtp.host,
              port: smtp.port,
              secure: false,
              user: 'agent@example.com',
              password: APP_PASSWORD,
            },
          },
        ],
        max_message_bytes: 64 * 1024,
      },
    },
    { gmail: googleConn() },
  );
  return createMailService({
    config,
    store: ts.store,
    tokens: t,
    clock,
    logger: silentLogger,
    events,
    owner,
    options: { circuit: { coolDownMs: 60_000 }, retry: { random: () => 0 } },
  });
}

beforeEach(async () => {
  gmail = await startGmailFake({ verifyToken: async (t) => t === TOKEN });
  smtp = await startSmtpPeer({ passwords: { 'agent@example.com': APP_PASSWORD } });
  ts = openTestStore();
  clock = new FakeClock(Date.now());
  events = new RecordingEvents();
  tokens = new StubTokens().set('gmail', TOKEN);
  svc = build();
});

afterEach(async () => {
  await svc.stop();
  await gmail.stop();
  await smtp.stop();
  await ts.cleanup();
});

const msg = { to: 'bob@example.org', bcc: 'hidden@example.net', subject: 'Daily report', text: 'All systems nominal.' };

describe('send with route failover', () => {
  it('uses the Gmail REST route while OAuth is healthy', async () => {
    const r = await svc.mailbox('agent').send(msg);
    expect(r).toMatchObject({ status: 'sent', route: 'gmail:gmail' });
    expect(r.messageId).toMatch(/^<[0-9a-f-]{36}@example\.com>$/);
    expect(gmail.sent).toHaveLength(1);
    expect(gmail.sent[0]?.headers.get('message-id')).toBe(r.messageId);
    // Gmail reads Bcc recipients from the header.
    expect(gmail.sent[0]?.headers.get('bcc')).toBe('hidden@example.net');
    expect(smtp.received).toHaveLength(0);
    expect(events.ofType('mail_queued')).toHaveLength(1);
    expect(events.ofType('mail_sent')[0]?.data).toMatchObject({ route: 'gmail:gmail', messageId: r.messageId });
    expect((await ts.store.getMessage(r.id))?.status).toBe('sent');
  });

  it('grant revoked (ReauthRequiredError) → the same send goes out over SMTP with the App Password', async () => {
    tokens.revoke('gmail');
    const r = await svc.mailbox('agent').send(msg);
    expect(r).toMatchObject({ status: 'sent', route: `smtp:${smtp.host}` });
    expect(smtp.received).toHaveLength(1);
    const got = smtp.received[0]!;
    expect(got.user).toBe('agent@example.com');
    expect(got.messageId).toBe(r.messageId);
    expect(got.envelope.to.sort()).toEqual(['bob@example.org', 'hidden@example.net']);
    // Bcc goes by envelope only; the header must not reach recipients.
    expect(got.raw.toString()).not.toMatch(/^bcc:/im);
    const fo = events.ofType('mail_failover');
    expect(fo).toHaveLength(1);
    expect(fo[0]?.data).toMatchObject({ from: ['gmail:gmail'], to: `smtp:${smtp.host}` });
    expect(JSON.stringify(fo[0]?.data)).toContain('re-authorization');
    expect(events.ofType('route_opened')[0]?.data).toMatchObject({ route: 'gmail:gmail', direction: 'send' });
    expect(gmail.requests).toHaveLength(0);
  });

  it('connection known to need a human (stateOf) → Gmail is skipped without asking for a token', async () => {
    const st = new StatefulStubTokens().set('gmail', TOKEN);
    st.stateMap.set('gmail', 'awaiting_human');
    await svc.stop();
    svc = build(st);
    const r = await svc.mailbox('agent').send(msg);
    expect(r.route).toBe(`smtp:${smtp.host}`);
    expect(st.calls).toEqual([]);
    expect(events.ofType('route_opened')[0]?.message).toContain('awaiting_human');
    // Healed: the next send tries Gmail at once and closes the circuit.
    st.stateMap.set('gmail', 'healthy');
    const r2 = await svc.mailbox('agent').send({ ...msg, subject: 'second' });
    expect(r2.route).toBe('gmail:gmail');
    expect(events.ofType('route_closed')).toHaveLength(1);
  });

  it('Gmail 401 opens the circuit and fails over; after the cool-down a half-open attempt closes it', async () => {
    gmail.force('401', 1);
    const r1 = await svc.mailbox('agent').send(msg);
    expect(r1.route).toBe(`smtp:${smtp.host}`);
    expect(events.ofType('mail_failover')[0]?.data).toMatchObject({ from: ['gmail:gmail'] });
    expect(JSON.stringify(events.ofType('mail_failover')[0]?.data)).toContain('HTTP 401 UNAUTHENTICATED');
    const status = await svc.status();
    expect(status[0]?.routes.find((h) => h.route === 'gmail:gmail' && h.direction === 'send')?.circuit.state).toBe(
      'open',
    );

    // While open: Gmail is not even called.
    const before = gmail.requests.length;
    const r2 = await svc.mailbox('agent').send({ ...msg, subject: 'two' });
    expect(r2.route).toBe(`smtp:${smtp.host}`);
    expect(gmail.requests.length).toBe(before);

    await clock.advance(60_000);
    const r3 = await svc.mailbox('agent').send({ ...msg, subject: 'three' });
    expect(r3.route).toBe('gmail:gmail');
    expect(events.ofType('route_closed')[0]?.data).toMatchObject({ route: 'gmail:gmail' });
  });

  it('Gmail 429 is transient: the circuit stays closed, SMTP carries this one, Retry-After parks Gmail', async () => {
    gmail.force('429', 1);
    const r = await svc.mailbox('agent').send(msg);
    expect(r.route).toBe(`smtp:${smtp.host}`);
    expect(events.ofType('route_opened')).toHaveLength(0);
    const h = (await svc.status())[0]?.routes.find((x) => x.route === 'gmail:gmail' && x.direction === 'send');
    expect(h?.circuit.state).toBe('closed');
    expect(h?.circuit.notBefore).toBe(clock.now() + 30_000);
  });

  it('a 4xx content error is permanent: recorded failed with a clear error, never retried', async () => {
    gmail.force('400', 1);
    const r = await svc.mailbox('agent').send(msg);
    expect(r.status).toBe('failed');
    expect(r.error).toContain('Invalid To header');
    const rec = await ts.store.getMessage(r.id);
    expect(rec).toMatchObject({ status: 'failed', route: 'gmail:gmail' });
    expect(rec?.lastError).toContain('HTTP 400');
    expect(events.ofType('mail_failed')).toHaveLength(1);
    const n = gmail.requests.length;
    await clock.advance(24 * 3_600_000);
    expect(await svc.deliverDue()).toBe(0);
    expect(gmail.requests.length).toBe(n);
    expect(smtp.received).toHaveLength(0);
  });

  it('Gmail 401 and SMTP down → queued (no caller error); the loop delivers when SMTP returns', async () => {
    gmail.force('401');
    await smtp.setDown(true);
    const r = await svc.mailbox('agent').send(msg);
    expect(r.status).toBe('queued');
    expect(r.error).toContain(`smtp:${smtp.host}: transient`);
    const rec = await ts.store.getMessage(r.id);
    expect(rec).toMatchObject({ status: 'pending', attempts: 1 });
    expect(rec!.nextAttemptAt).toBe(clock.now() + 5_000);

    // Not due yet: nothing happens.
    expect(await svc.deliverDue()).toBe(0);
    await smtp.setDown(false);
    svc.start();
    await clock.advance(5_000);
    await smtp.waitForCount(1);
    await svc.stop();
    expect(smtp.countByMessageId(r.messageId)).toBe(1);
    const done = await ts.store.getMessage(r.id);
    expect(done).toMatchObject({ status: 'sent', route: `smtp:${smtp.host}`, attempts: 2 });
    expect(events.ofType('mail_sent')[0]?.data).toMatchObject({ id: r.id, route: `smtp:${smtp.host}` });
  });

  it('the idempotency key prevents a second copy (explicit and derived)', async () => {
    const a = await svc.mailbox('agent').send({ ...msg, idempotencyKey: 'report-2026-01-01' });
    const b = await svc.mailbox('agent').send({ ...msg, subject: 'changed', idempotencyKey: 'report-2026-01-01' });
    expect(b).toMatchObject({ id: a.id, messageId: a.messageId, status: 'sent', route: 'gmail:gmail' });
    const c = await svc.mailbox('agent').send({ text: 'x', to: 'z@example.org', subject: 'same' });
    const d = await svc.mailbox('agent').send({ subject: 'same', to: 'Z@example.org', text: 'x' });
    expect(d.id).toBe(c.id);
    expect(gmail.sent).toHaveLength(2);
    expect(events.ofType('mail_queued')).toHaveLength(2);
  });

  it('a replayed delivery (crash before `sent` was recorded) carries the same Message-ID on another route', async () => {
    const r = await svc.mailbox('agent').send(msg);
    expect(r.route).toBe('gmail:gmail');
    // Simulate the crash window: the provider accepted, the row is back to claimable.
    await ts.store.updateMessage(r.id, { status: 'pending', nextAttemptAt: clock.now() }, {});
    gmail.force('401');
    expect(await svc.deliverDue()).toBe(1);
    expect(smtp.received[0]?.messageId).toBe(r.messageId);
    expect(gmail.sent[0]?.headers.get('message-id')).toBe(r.messageId);
    // Same bytes apart from the Bcc header.
    expect(smtp.received[0]?.raw.toString()).toContain('Subject: Daily report');
  });

  it.each([
    [{ ...msg, to: 'not an address' }, 'to'],
    [{ to: [] as string[], subject: 's', text: 't' }, 'to'],
    [{ ...msg, cc: ['ok@example.org', 'bad@'] }, 'cc[1]'],
    [{ ...msg, subject: 'x\r\nBcc: evil@example.com' }, 'subject'],
    [{ ...msg, headers: { 'X-Tag': 'a\nb' } }, 'headers.X-Tag'],
    [{ ...msg, attachments: [{ filename: 'a.bin', content: '!!not base64!!' }] }, 'attachments[0].content'],
    [{ ...msg, text: 'x'.repeat(70 * 1024) }, 'message'],
  ] as [MailMessage, string][])('rejects bad input before queueing (%#: %s)', async (bad, field) => {
    const err = await svc
      .mailbox('agent')
      .send(bad)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MailInputError);
    expect((err as MailInputError).field).toBe(field);
    expect((err as MailInputError).code).toBe('TW_BAD_INPUT');
    expect(await ts.store.listMessages()).toEqual([]);
    expect(events.events).toEqual([]);
    expect(gmail.requests).toHaveLength(0);
  });

  it('never writes the mail body, subject or tokens in plaintext to the SQLite file, nor to events', async () => {
    const body = 'CONFIDENTIAL-BODY-7f3a9c quarterly numbers';
    gmail.force('500');
    await smtp.setDown(true);
    const r = await svc.mailbox('agent').send({ to: 'bob@example.org', subject: 'SECRET-SUBJECT-91bd', text: body });
    expect(r.status).toBe('queued');
    const bytes = [ts.file, `${ts.file}-wal`]
      .filter(existsSync)
      .map((f) => readFileSync(f).toString('latin1'))
      .join('');
    expect(bytes).toContain(r.messageId.slice(1, 20)); // the row is there
    for (const needle of [
      'CONFIDENTIAL-BODY',
      'SECRET-SUBJECT',
      Buffer.from(body).toString('base64').slice(0, 24),
      'Q09ORklERU5USUFM',
    ]) {
      expect(bytes).not.toContain(needle);
    }
    const ev = JSON.stringify(events.events);
    for (const needle of ['CONFIDENTIAL-BODY', 'SECRET-SUBJECT', TOKEN, APP_PASSWORD]) expect(ev).not.toContain(needle);
  });

  it('probes: Gmail profile with read scopes; with gmail.send alone only the token is checked', async () => {
    const health = await svc.probeAll();
    expect(health.map((h) => [h.direction, h.route, h.ok])).toEqual([
      ['send', 'gmail:gmail', true],
      ['send', `smtp:${smtp.host}`, true],
    ]);
    expect(gmail.requests.map((r) => r.path)).toEqual(['/gmail/v1/users/me/profile']);

    const sendOnly = await startGmailFake({
      verifyToken: async (t) => t === TOKEN,
      scopes: ['https://www.googleapis.com/auth/gmail.send'],
    });
    const s2 = createMailService({
      config: mailConfig(
        { agent: { address: 'agent@example.com', send: [{ gmail: { connection: 'gmail', api_base: sendOnly.url } }] } },
        { gmail: googleConn(['https://www.googleapis.com/auth/gmail.send']) },
      ),
      store: ts.store,
      tokens,
      clock,
      logger: silentLogger,
      events,
      owner: 'p',
    });
    try {
      const [h] = await s2.probeAll();
      expect(h).toMatchObject({
        ok: true,
        note: expect.stringContaining('probe limited by scopes'),
        circuit: { state: 'closed' },
      });
      expect(sendOnly.requests).toHaveLength(0);
      tokens.revoke('gmail');
      const [h2] = await s2.probeAll();
      expect(h2).toMatchObject({ ok: false, circuit: { state: 'open' } });
      expect(events.ofType('probe_failed')).toHaveLength(1);
    } finally {
      await s2.stop();
      await sendOnly.stop();
    }
  });
});
