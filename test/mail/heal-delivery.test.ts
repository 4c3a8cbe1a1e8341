/**
 * A message queued while the grant is dead goes out soon after the human re-authorizes: while
 * a send route's connection awaits a human, retries stay at most 30 s apart (not the 15-minute
 * backoff cap), and a circuit the provider's refusal opened before the keeper knew the grant
 * was dead closes as soon as the connection heals.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ReauthRequiredError } from '../../src/core/errors.js';
import { createMailService, type MailService } from '../../src/mail/index.js';
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

const GOOD = 'ya29.the-new-token-after-reauth';
let smtp: SmtpPeer;
let ts: TestStore;
let svc: MailService;
/** Like the keeper: a forced refresh of a revoked grant finds it dead and says so. */
class KeeperLikeTokens extends StatefulStubTokens {
  readonly refreshes: string[] = [];
  grantDead = false;
  async forceRefresh(conn: string): Promise<string> {
    this.refreshes.push(conn);
    if (!this.grantDead) return this.accessToken(conn);
    this.stateMap.set(conn, 'reauth_required');
    this.revoke(conn);
    throw new ReauthRequiredError(conn, { id: 'revoked', summary: 'The grant was revoked.', fix: 'Re-authorize.' });
  }
}
let tokens: KeeperLikeTokens;
let clock: FakeClock;

beforeEach(async () => {
  smtp = await startSmtpPeer({ verifyToken: async (t) => t === GOOD });
  ts = openTestStore();
  tokens = new KeeperLikeTokens();
  clock = new FakeClock(Date.now());
  svc = createMailService({
    config: mailConfig(
      {
        agent: {
          address: 'agent@example.com',
          send: [{ smtp: { host: smtp.host, port: smtp.port, secure: false, user: 'alice', connection: 'gmail' } }],
        },
      },
      { gmail: googleConn() },
    ),
    store: ts.store,
    tokens,
    clock,
    logger: silentLogger,
    events: new RecordingEvents(),
    owner: 'p',
    options: { retry: { random: () => 0 } },
  });
});

afterEach(async () => {
  await svc.stop();
  await smtp.stop();
  await ts.cleanup();
});

async function nextAttemptIn(id: string): Promise<number> {
  const rec = await ts.store.getMessage(id);
  return (rec?.nextAttemptAt ?? 0) - clock.now();
}

describe('delivery after the human re-authorizes', () => {
  it('revoked token refused (circuit opens), grant found dead, retries stay 30 s apart, sent at the first retry after the heal', async () => {
    // The provider refuses the cached token before the keeper knows the grant is dead.
    tokens.set('gmail', 'ya29.revoked-token');
    const r = await svc.mailbox('agent').send({ to: 'bob@example.org', subject: 'while dead', text: 'x' });
    expect(r.status).toBe('queued');
    expect(smtp.authFailures.length).toBeGreaterThan(0);
    // Now the keeper knows: the connection needs a human.
    tokens.stateMap.set('gmail', 'reauth_required');
    tokens.revoke('gmail');
    for (let i = 0; i < 12; i++) {
      const wait = await nextAttemptIn(r.id);
      expect(wait).toBeLessThanOrEqual(30_000);
      await clock.advance(wait);
      expect(await svc.deliverDue()).toBe(0);
    }
    expect((await ts.store.getMessage(r.id))?.attempts).toBe(13);
    // The human re-authorizes.
    tokens.stateMap.set('gmail', 'healthy');
    tokens.heal('gmail');
    tokens.set('gmail', GOOD);
    await clock.advance(await nextAttemptIn(r.id));
    expect(await svc.deliverDue()).toBe(1);
    expect(smtp.countByMessageId(r.messageId)).toBe(1);
  });

  it('healed within the cool-down of a circuit the refusal opened: sent at the next attempt, not after the cool-down', async () => {
    tokens.set('gmail', 'ya29.revoked-token');
    const r = await svc.mailbox('agent').send({ to: 'bob@example.org', subject: 'quick heal', text: 'x' });
    expect(r.status).toBe('queued');
    tokens.stateMap.set('gmail', 'reauth_required');
    tokens.revoke('gmail');
    await clock.advance(await nextAttemptIn(r.id));
    expect(await svc.deliverDue()).toBe(0);
    tokens.stateMap.set('gmail', 'healthy');
    tokens.heal('gmail');
    tokens.set('gmail', GOOD);
    const wait = await nextAttemptIn(r.id);
    await clock.advance(wait);
    // Still well inside the circuit's 60 s cool-down.
    expect(clock.now() - (await ts.store.getMessage(r.id))!.createdAt).toBeLessThan(60_000);
    expect(await svc.deliverDue()).toBe(1);
    expect(smtp.countByMessageId(r.messageId)).toBe(1);
  });

  it('a refused token makes the keeper re-check at once: the dead grant is found without waiting for the token to expire', async () => {
    tokens.set('gmail', 'ya29.revoked-token');
    tokens.grantDead = true;
    const r = await svc.mailbox('agent').send({ to: 'bob@example.org', subject: 'found dead', text: 'x' });
    expect(r.status).toBe('queued');
    expect(tokens.refreshes).toEqual(['gmail']);
    expect(await tokens.stateOf('gmail')).toBe('reauth_required');
    // The human re-authorizes; the next attempt goes out (no cool-down wait).
    tokens.grantDead = false;
    tokens.stateMap.set('gmail', 'healthy');
    tokens.heal('gmail');
    tokens.set('gmail', GOOD);
    await clock.advance(await nextAttemptIn(r.id));
    expect(await svc.deliverDue()).toBe(1);
    expect(smtp.countByMessageId(r.messageId)).toBe(1);
  });

  it('a route that is merely down keeps the ordinary backoff', async () => {
    tokens.set('gmail', GOOD);
    await smtp.setDown(true);
    const r = await svc.mailbox('agent').send({ to: 'bob@example.org', subject: 'down', text: 'x' });
    expect(r.status).toBe('queued');
    for (let i = 0; i < 6; i++) {
      await clock.advance(await nextAttemptIn(r.id));
      await svc.deliverDue();
    }
    // 5 s doubling: the 7th wait is 5 s × 2^6.
    expect(await nextAttemptIn(r.id)).toBe(320_000);
  });
});
