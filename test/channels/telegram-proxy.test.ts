/**
 * The Telegram channel behind a proxy: the link goes out, the long poll waits in a tunnel
 * through the proxy, a paste comes back, and stop() aborts the parked poll — with the fetch
 * tokenwarden builds from HTTP_PROXY (undici's fetch and ProxyAgent, grammY's abort signal).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTelegramChannel, type TelegramChannel } from '../../src/channels/telegram.js';
import type { IncomingPaste } from '../../src/channels/types.js';
import { systemClock } from '../../src/core/clock.js';
import { createProxiedFetch, readProxyEnv } from '../../src/core/proxy.js';
import { startCountingProxy, type CountingProxy } from '../peers/http-proxy.js';
import { DEFAULT_USER_ID, startTelegramPeer, type TelegramPeer } from '../peers/telegram.js';
import { recordingLogger } from './helpers.js';

let peer: TelegramPeer;
let proxy: CountingProxy;
let ch: TelegramChannel | undefined;

beforeEach(async () => {
  peer = await startTelegramPeer();
  proxy = await startCountingProxy();
});

afterEach(async () => {
  await ch?.stop();
  await proxy.stop();
  await peer.stop();
});

describe('telegram channel through HTTP_PROXY', () => {
  it('sends, long-polls and receives a paste through the proxy; stop() aborts the parked poll', async () => {
    const port = Number(new URL(peer.apiRoot).port);
    ch = createTelegramChannel(
      'ops',
      {
        type: 'telegram',
        bot_token: peer.token,
        chat_id: DEFAULT_USER_ID,
        allow_from: [DEFAULT_USER_ID],
        api_root: peer.apiRoot,
        poll_timeout: 30_000,
      },
      {
        clock: systemClock,
        logger: recordingLogger(),
        fetch: createProxiedFetch(readProxyEnv({ HTTP_PROXY: proxy.url }), globalThis.fetch),
      },
    );
    await ch.send({
      kind: 'reauth_request',
      connection: 'gmail',
      title: 'gmail needs you',
      text: 'approve',
      url: 'https://example.com/a',
    });
    expect(peer.botMessages(DEFAULT_USER_ID).map((m) => m.text)).toEqual([expect.stringContaining('gmail needs you')]);

    const pastes: IncomingPaste[] = [];
    let got!: () => void;
    const received = new Promise<void>((r) => (got = r));
    await ch.start((p) => {
      pastes.push(p);
      got();
      return Promise.resolve({ ok: true, reply: 'Connected gmail.' });
    });
    await peer.waitForParkedPolls(1);
    await peer.userSays('http://127.0.0.1:7465/oauth/callback?code=abc&state=xyz');
    await received;
    expect(pastes[0]?.text).toBe('http://127.0.0.1:7465/oauth/callback?code=abc&state=xyz');
    await peer.waitForParkedPolls(1);
    await ch.stop();
    await peer.waitForNoParkedPolls();
    expect(ch.listening).toBe(false);
    // The Bot API calls went through the proxy: tunnels to the stand-in's port and nowhere else.
    expect(proxy.hitsTo(port).length).toBeGreaterThan(0);
    expect(proxy.hits.every((h) => h.kind === 'connect' && h.target === `127.0.0.1:${port}`)).toBe(true);
  });
});
