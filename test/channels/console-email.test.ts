import { describe, expect, it } from 'vitest';
import { createChannel, type ChannelError } from '../../src/channels/index.js';
import { FakeClock } from '../../src/core/clock.js';
import { ConfigError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/logger.js';

const clock = new FakeClock(Date.UTC(2026, 0, 1, 8, 0, 0));
const msg = {
  kind: 'reauth_request' as const,
  connection: 'gmail',
  title: 'Re-authorize gmail',
  text: 'Google testing-mode expiry: publish the app to stop weekly expiry.',
  url: 'https://accounts.google.com/auth?x=1',
  userCode: 'WDJB-MJHT',
  expiresAt: clock.now() + 5 * 60_000,
  pasteHint: 'tokenwarden complete <redirect-url>',
};

describe('console channel', () => {
  it('writes a human-readable block to stderr', async () => {
    const out: string[] = [];
    const ch = createChannel(
      'term',
      { type: 'console' },
      { clock, logger: silentLogger, writeStderr: (t) => out.push(t) },
    );
    expect(ch.twoWay).toBe(false);
    await ch.send(msg);
    const text = out.join('');
    expect(text).toContain('[tokenwarden] reauth request · gmail');
    expect(text).toContain('  Re-authorize gmail');
    expect(text).toContain('  Open: https://accounts.google.com/auth?x=1');
    expect(text).toContain('  Code: WDJB-MJHT');
    expect(text).toContain('  Expires in 5 minutes (08:05 UTC).');
    expect(text).toContain('tokenwarden complete <redirect-url>');
  });
});

describe('email channel', () => {
  it('sends plain text through the mailbox seam', async () => {
    const sent: Array<{ to: string; subject: string; text: string }> = [];
    const ch = createChannel(
      'mail',
      { type: 'email', mailbox: 'agent', to: 'owner@example.com' },
      {
        clock,
        logger: silentLogger,
        sendMail: (to, subject, text) => {
          sent.push({ to, subject, text });
          return Promise.resolve();
        },
      },
    );
    await ch.send({ ...msg, title: 'Re-authorize\r\nBcc: evil@example.com' });
    expect(sent).toHaveLength(1);
    expect(sent[0]?.to).toBe('owner@example.com');
    expect(sent[0]?.subject).toBe('[tokenwarden] Re-authorize Bcc: evil@example.com'); // no header injection
    expect(sent[0]?.text).toContain('Open: https://accounts.google.com/auth?x=1');
    expect(sent[0]?.text).toContain('Code: WDJB-MJHT');
  });

  it('refuses to be created without a non-OAuth send route', () => {
    const make = (): unknown =>
      createChannel(
        'mail',
        { type: 'email', mailbox: 'agent', to: 'owner@example.com' },
        { clock, logger: silentLogger },
      );
    expect(make).toThrow(ConfigError);
    expect(make).toThrow(/email channel needs a mailbox with a non-OAuth send route/);
    expect(make).toThrow(/channels\.mail\.mailbox/);
  });

  it('a mailbox failure becomes a transient ChannelError', async () => {
    const ch = createChannel(
      'mail',
      { type: 'email', mailbox: 'agent', to: 'o@example.com' },
      { clock, logger: silentLogger, sendMail: () => Promise.reject(new Error('smtp down')) },
    );
    const err = (await ch.send(msg).catch((e: unknown) => e)) as ChannelError;
    expect(err.message).toBe('channel mail: the mailbox could not send the message');
    expect(err.transient).toBe(true);
  });
});
