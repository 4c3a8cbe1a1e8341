/**
 * Channel checks send nothing: HTTP channels (webhook, ntfy, Slack) only ask whether the
 * receiving server answers (HEAD), and say so without naming the URL when it does not; Telegram
 * proves the bot token (`getMe`) and the chat (`getChat`) against the Bot API stand-in.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChannelError, createChannel } from '../../src/channels/index.js';
import { FakeClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { freePort } from '../daemon/helpers.js';
import { startHttpSink, type HttpSink } from '../peers/http-sink.js';
import { DEFAULT_USER_ID, startTelegramPeer, type TelegramPeer } from '../peers/telegram.js';

const deps = { clock: new FakeClock(Date.UTC(2026, 0, 1)), logger: silentLogger };
let sink: HttpSink;
let tg: TelegramPeer;

beforeAll(async () => {
  sink = await startHttpSink({ status: 405 });
  tg = await startTelegramPeer();
});
afterAll(async () => {
  await sink?.stop();
  await tg?.stop();
});

describe('channel checks', () => {
  it('HTTP channels: any answer counts, nothing is posted', async () => {
    for (const cfg of [
      { type: 'webhook' as const, url: `${sink.url}/hook/secret-path` },
      { type: 'ntfy' as const, url: `${sink.url}/topic` },
      { type: 'slack' as const, url: `${sink.url}/services/T0/B0/secret` },
    ])
      await createChannel('c', cfg, deps).check?.();
    expect(sink.requests.map((r) => r.method)).toEqual(['HEAD', 'HEAD', 'HEAD']);
  });

  it('HTTP channels: an unreachable server fails the check without naming the URL', async () => {
    const url = `http://127.0.0.1:${await freePort()}/hook/secret-path`;
    const err = await createChannel('hook', { type: 'webhook', url }, deps)
      .check?.()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChannelError);
    expect((err as ChannelError).message).toMatch(/channel hook: cannot reach the receiving server/);
    expect((err as ChannelError).message).not.toContain('secret-path');
  });

  it('Telegram: a good token and chat pass; a wrong token and an unknown chat fail, token redacted', async () => {
    const cfg = { bot_token: tg.token, chat_id: DEFAULT_USER_ID, allow_from: [DEFAULT_USER_ID], api_root: tg.apiRoot };
    await createChannel('me', { type: 'telegram', ...cfg }, deps).check?.();
    const badToken = `${tg.token.split(':')[0] ?? ''}:AAwrongwrongwrongwrongwrongwrongwro`;
    const e1 = await createChannel('me', { type: 'telegram', ...cfg, bot_token: badToken }, deps)
      .check?.()
      .catch((e: unknown) => e);
    expect((e1 as Error).message).toMatch(/getMe failed: 401 Unauthorized/);
    expect((e1 as Error).message).not.toContain('AAwrong');
    const e2 = await createChannel('me', { type: 'telegram', ...cfg, chat_id: -100555 }, deps)
      .check?.()
      .catch((e: unknown) => e);
    expect((e2 as Error).message).toMatch(/getChat failed: 400 Bad Request: chat not found/);
    expect(tg.botMessages()).toEqual([]);
  });
});
