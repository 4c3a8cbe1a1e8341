/**
 * Who delivers which outbox row: a send delivers the row it created (born claimed, no separate
 * claim) and leaves other due rows to the delivery loop — or, for a library caller without a
 * loop, to a background sweep — and the loop delivers the rows it claimed several at once.
 * Real SQLite store and a real SMTP server.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createMailService, type MailService } from '../../src/mail/index.js';
import { startSmtpPeer, type SmtpPeer, type SmtpPeerOptions } from '../peers/smtp.js';
import {
  FakeClock,
  RecordingEvents,
  StubTokens,
  mailConfig,
  openTestStore,
  silentLogger,
  type TestStore,
} from './helpers.js';

const LEASE_MS = 60_000;

function service(t: TestStore, smtp: SmtpPeer, clock: FakeClock, events = new RecordingEvents()): MailService {
  return createMailService({
    config: mailConfig({
      agent: {
        address: 'agent@example.com',
        send: [
          { smtp: { host: smtp.host, port: smtp.port, secure: false, user: 'agent@example.com', password: 'pw' } },
        ],
      },
    }),
    store: t.store,
    tokens: new StubTokens(),
    clock,
    logger: silentLogger,
    events,
    owner: 'this-process',
    options: { leaseMs: LEASE_MS, pollIntervalMs: 10 * LEASE_MS, probeIntervalMs: 100 * LEASE_MS },
  });
}

/** A row a crashed sender claimed (lease `LEASE_MS` from `now`). */
async function leftover(t: TestStore, id: string, now: number): Promise<void> {
  await t.store.enqueueMessage(
    {
      id,
      mailbox: 'agent',
      idempotencyKey: `k-${id}`,
      messageId: `<${id}@example.com>`,
      payload: JSON.stringify({
        v: 1,
        raw: Buffer.from(`Message-ID: <${id}@example.com>\r\nSubject: ${id}\r\n\r\nhi\r\n`).toString('base64'),
        envelope: { from: 'agent@example.com', to: ['bob@example.org'] },
      }),
      createdAt: now,
    },
    now,
    { claim: { owner: 'dead-process', leaseMs: LEASE_MS } },
  );
}

describe('outbox claims', () => {
  let smtp: SmtpPeer | undefined;
  let t: TestStore | undefined;
  let svc: MailService | undefined;
  afterEach(async () => {
    await svc?.stop();
    await smtp?.stop();
    await t?.cleanup();
    svc = smtp = t = undefined;
  });

  async function setUp(opts: SmtpPeerOptions = {}): Promise<{ t: TestStore; smtp: SmtpPeer; clock: FakeClock }> {
    smtp = await startSmtpPeer({ passwords: { 'agent@example.com': 'pw' }, ...opts });
    t = openTestStore();
    return { t, smtp, clock: new FakeClock(Date.now()) };
  }

  it('with the delivery loop running, a send delivers its own row only and leaves other due rows to the loop', async () => {
    const { t, smtp, clock } = await setUp();
    await leftover(t, 'old', clock.now());
    const events = new RecordingEvents();
    svc = service(t, smtp, clock, events);
    svc.start();
    // The loop's first pass found the old row still leased, and now sleeps.
    while (clock.pending === 0) await new Promise((r) => setImmediate(r));
    await clock.advance(LEASE_MS); // the dead sender's lease runs out (the loop still sleeps)

    const r = await svc.mailbox('agent').send({ to: 'bob@example.org', subject: 'new', text: 'hello' });
    expect(r.status).toBe('sent');
    expect(smtp.countByMessageId(r.messageId)).toBe(1);
    expect(await t.store.getMessage(r.id)).toMatchObject({ status: 'sent', attempts: 1, leaseOwner: null });
    // Its events: queued, then sent, both recorded before send() answered.
    expect(events.events.map((e) => e.type)).toEqual(['mail_queued', 'mail_sent']);
    // The old row was not taken by the send.
    expect(await t.store.getMessage('old')).toMatchObject({ status: 'sending', leaseOwner: 'dead-process' });
    expect(smtp.countByMessageId('<old@example.com>')).toBe(0);

    expect(await svc.deliverDue()).toBe(1);
    expect(smtp.countByMessageId('<old@example.com>')).toBe(1);
  });

  it('without a delivery loop (a library caller), a send also delivers other due rows in the background', async () => {
    const { t, smtp, clock } = await setUp();
    await leftover(t, 'old', clock.now() - LEASE_MS);
    svc = service(t, smtp, clock);
    const r = await svc.mailbox('agent').send({ to: 'bob@example.org', subject: 'new', text: 'hello' });
    expect(r.status).toBe('sent');
    await smtp.waitForCount(2);
    expect(smtp.countByMessageId('<old@example.com>')).toBe(1);
    await svc.stop(); // waits for the background delivery
    expect(await t.store.getMessage('old')).toMatchObject({ status: 'sent', leaseOwner: null });
  });

  it('a delivery that takes a while has its mail_queued recorded without waiting for the outcome', async () => {
    // The server answers MAIL FROM only once mail_queued is recorded: waiting for the outcome
    // to write it would never get there.
    let queuedSeen!: () => void;
    const queued = new Promise<void>((r) => (queuedSeen = r));
    const events = new (class extends RecordingEvents {
      override async emit(e: Parameters<RecordingEvents['emit']>[0]): Promise<void> {
        await super.emit(e);
        if (e.type === 'mail_queued') queuedSeen();
      }
    })();
    const { t, smtp, clock } = await setUp({ beforeReply: (stage) => (stage === 'mail' ? queued : Promise.resolve()) });
    svc = service(t, smtp, clock, events);
    const r = await svc.mailbox('agent').send({ to: 'bob@example.org', subject: 'slow', text: 'hello' });
    expect(r.status).toBe('sent');
    expect(events.events.map((e) => e.type)).toEqual(['mail_queued', 'mail_sent']);
  });

  it('the delivery loop delivers the rows it claimed several at once', async () => {
    // The server holds every MAIL FROM until two transactions wait at once: one-by-one delivery
    // would never get there.
    let waiting: (() => void)[] = [];
    let concurrent = 0;
    const { t, smtp, clock } = await setUp({
      beforeReply: (stage) => {
        if (stage !== 'mail') return Promise.resolve();
        return new Promise<void>((resolve) => {
          waiting.push(resolve);
          concurrent = Math.max(concurrent, waiting.length);
          if (waiting.length >= 2) {
            for (const w of waiting) w();
            waiting = [];
          }
        });
      },
    });
    for (const id of ['a', 'b', 'c', 'd']) await leftover(t, id, clock.now() - LEASE_MS);
    svc = service(t, smtp, clock);
    expect(await svc.deliverDue()).toBe(4);
    expect(concurrent).toBe(2);
    for (const id of ['a', 'b', 'c', 'd']) expect(smtp.countByMessageId(`<${id}@example.com>`)).toBe(1);
  });
});
