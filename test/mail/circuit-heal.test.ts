/**
 * A route whose circuit opened because its connection needed a human (e.g. probed at startup,
 * before the first authorization) closes the moment the connection heals — no cool-down wait.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMailService, type MailService } from '../../src/mail/index.js';
import { startGmailFake, type GmailFake } from '../peers/gmail-fake.js';
import { startSmtpPeer, type SmtpPeer } from '../peers/smtp.js';
import {
  FakeClock,
  RecordingEvents,
  StatefulStubTokens,
  googleConn,
  mailConfig,
  openTestStore,
  silentLogger,
  type TestStore,
} from './helpers.js';

const TOKEN = 'ya29.heal-access-token-0123456789abcdef';
let gmail: GmailFake;
let smtp: SmtpPeer;
let ts: TestStore;
let svc: MailService;
let tokens: StatefulStubTokens;

beforeEach(async () => {
  gmail = await startGmailFake({
    verifyToken: async (t) => t === TOKEN,
    scopes: ['https://www.googleapis.com/auth/gmail.readonly'],
  });
  smtp = await startSmtpPeer({ passwords: { 'agent@example.com': 'app-pw' } });
  ts = openTestStore();
  tokens = new StatefulStubTokens();
  tokens.set('gmail', TOKEN);
  const config = mailConfig(
    {
      agent: {
        address: 'agent@example.com',
        send: [
          { gmail: { connection: 'gmail', api_base: gmail.url } },
          { smtp: { host: smtp.host, port: smtp.port, secure: false, user: 'agent@example.com', password: 'app-pw' } },
        ],
      },
    },
    { gmail: googleConn() },
  );
  svc = createMailService({
    config,
    store: ts.store,
    tokens,
    clock: new FakeClock(Date.now()),
    logger: silentLogger,
    events: new RecordingEvents(),
    owner: 'p',
    options: { circuit: { coolDownMs: 3_600_000 } },
  });
});

afterEach(async () => {
  await svc.stop();
  await gmail.stop();
  await smtp.stop();
  await ts.cleanup();
});

describe('circuit opened by a connection that needs a human', () => {
  it('closes as soon as the connection heals, without waiting out the cool-down', async () => {
    tokens.revoke('gmail');
    const [health] = await svc.probeAll();
    expect(health?.circuit.state).toBe('open');
    tokens.heal('gmail');
    const r = await svc.mailbox('agent').send({ to: 'bob@example.org', subject: 'after heal', text: 'x' });
    expect(r).toMatchObject({ status: 'sent', route: 'gmail:gmail' });
    expect(smtp.received).toHaveLength(0);
  });
});
