import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createChannel, type ChannelError } from '../../src/channels/index.js';
import { FakeClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { startHttpSink, type HttpSink } from '../peers/http-sink.js';

let sink: HttpSink;
beforeEach(async () => {
  sink = await startHttpSink();
});
afterEach(async () => {
  await sink.stop();
});

const clock = new FakeClock(Date.UTC(2026, 0, 1, 8, 0, 0));
const deps = { clock, logger: silentLogger };

interface SlackBody {
  text: string;
  blocks: Array<{ type: string; text: { type: string; text: string } }>;
}

describe('slack channel', () => {
  it('posts { text, blocks } with an <url|Open> link and escaped user text', async () => {
    const ch = createChannel('team', { type: 'slack', url: `${sink.url}/services/T/B/X` }, deps);
    await ch.send({
      kind: 'reauth_request',
      connection: 'gmail',
      title: 'Re-authorize <!channel> gmail',
      text: 'cause: a & b <@U123>',
      url: 'https://accounts.google.com/auth?a=1&b=x|y',
      expiresAt: clock.now() + 90_000,
      pasteHint: 'https://agent.example.com/flows/f1',
    });
    const body = sink.requests[0]?.json<SlackBody>();
    expect(body?.text).toBe(
      'Re-authorize &lt;!channel&gt; gmail: <https://accounts.google.com/auth?a=1&amp;b=x%7Cy|Open>',
    );
    const mrkdwn = body?.blocks[0]?.text.text ?? '';
    expect(body?.blocks[0]?.text.type).toBe('mrkdwn');
    expect(mrkdwn).toContain('*Re-authorize &lt;!channel&gt; gmail*');
    expect(mrkdwn).toContain('cause: a &amp; b &lt;@U123&gt;');
    expect(mrkdwn).toContain('<https://accounts.google.com/auth?a=1&amp;b=x%7Cy|Open>');
    expect(mrkdwn).toContain('Expires in 2 minutes');
    expect(mrkdwn).toContain('https://agent.example.com/flows/f1');
    // No unescaped mention/command syntax from user text survives.
    expect(mrkdwn).not.toMatch(/<!channel>|<@U123>/);
  });

  it('errors name the channel and status, not the webhook URL (it is a secret)', async () => {
    sink.setStatus(404, 'no_service');
    const ch = createChannel('team', { type: 'slack', url: `${sink.url}/services/T/B/SECRETXYZ` }, deps);
    const err = (await ch
      .send({ kind: 'info', connection: 'c', title: 't', text: 'x' })
      .catch((e: unknown) => e)) as ChannelError;
    expect(err.message).toBe('channel team: HTTP 404 from the receiving server');
    expect(err.message).not.toContain('SECRETXYZ');
  });
});
