/**
 * The SMTP route keeps as many upstream connections as the outbox delivers at once (4): four
 * messages handed over together are in the upstream server at the same moment, none waits for
 * another's connection. The upstream (smtp-server) holds every MAIL FROM until four are open.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SmtpRoute } from '../../src/mail/routes/smtp.js';
import { startSmtpPeer, type SmtpPeer } from '../peers/smtp.js';
import { StubTokens } from './helpers.js';

const USER = 'agent@example.com';
const PASSWORD = 'abcd efgh ijkl mnop';
const AT_ONCE = 4;

let smtp: SmtpPeer;
let held = 0;
let releaseAll: () => void = () => undefined;
const allHeld = new Promise<void>((r) => (releaseAll = r));

beforeAll(async () => {
  smtp = await startSmtpPeer({
    passwords: { [USER]: PASSWORD },
    // Each transaction waits here until AT_ONCE of them are open together.
    beforeReply: async (stage) => {
      if (stage !== 'mail') return;
      held++;
      if (held >= AT_ONCE) releaseAll();
      await allHeld;
    },
  });
});

afterAll(async () => {
  releaseAll();
  await smtp?.stop();
});

describe('SMTP route connection pool', () => {
  it(`delivers ${AT_ONCE} messages over ${AT_ONCE} connections at once`, async () => {
    const route = new SmtpRoute({
      id: 'smtp:test',
      host: smtp.host,
      port: smtp.port,
      secure: false,
      user: USER,
      password: PASSWORD,
      tokens: new StubTokens(),
    });
    try {
      const sends = Array.from({ length: AT_ONCE }, (_, i) =>
        route.send(
          Buffer.from(
            `From: ${USER}\r\nTo: bob@example.org\r\nSubject: ${i}\r\nMessage-ID: <pool-${i}@example.com>\r\n\r\nhi\r\n`,
          ),
          { from: USER, to: ['bob@example.org'] },
        ),
      );
      // With fewer connections, fewer than AT_ONCE MAIL FROMs are ever open and this never settles.
      await allHeld;
      await Promise.all(sends);
      expect(held).toBe(AT_ONCE);
      expect(smtp.received.map((m) => m.messageId).sort()).toEqual(
        Array.from({ length: AT_ONCE }, (_, i) => `<pool-${i}@example.com>`),
      );
    } finally {
      await route.close();
    }
  });
});
