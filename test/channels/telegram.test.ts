import { performance } from 'node:perf_hooks';
import { MAX_RETRY_AFTER_MS } from '../../src/core/http-policy.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CONFLICT_TEXT,
  REFUSAL_TEXT,
  createChannel,
  type ChannelError,
  type IncomingPaste,
} from '../../src/channels/index.js';
import { createTelegramChannel, type TelegramChannel } from '../../src/channels/telegram.js';
import type { ChannelDeps, PasteResult } from '../../src/channels/types.js';
import { systemClock, type Clock } from '../../src/core/clock.js';
import { DEFAULT_USER_ID, startTelegramPeer, type TelegramPeer } from '../peers/telegram.js';
import { WatchedClock, deferred, recordingLogger } from './helpers.js';

const OWNER = DEFAULT_USER_ID;
const STRANGER = 777001;
const GROUP = -100500;
const PASTE = 'http://127.0.0.1:7465/oauth/callback?code=c0de-123&state=st4te';

let peer: TelegramPeer;
const channels: TelegramChannel[] = [];

beforeEach(async () => {
  peer = await startTelegramPeer();
});

afterEach(async () => {
  await Promise.all(channels.splice(0).map((c) => c.stop()));
  await peer.stop();
});

function channel(
  opts: { chatId?: number; deps?: Partial<ChannelDeps>; clock?: Clock; pollTimeout?: number } = {},
): TelegramChannel {
  const ch = createTelegramChannel(
    'ops',
    {
      type: 'telegram',
      bot_token: peer.token,
      chat_id: opts.chatId ?? OWNER,
      allow_from: [OWNER],
      api_root: peer.apiRoot,
      poll_timeout: opts.pollTimeout ?? 30_000,
    },
    { clock: opts.clock ?? systemClock, logger: recordingLogger(), ...opts.deps },
  );
  channels.push(ch);
  return ch;
}

/** A handler that records pastes and answers with `result`. */
function recorder(result: PasteResult = { ok: true, reply: 'Connected gmail.' }) {
  const pastes: IncomingPaste[] = [];
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const handler = (p: IncomingPaste): Promise<PasteResult> => {
    pastes.push(p);
    for (const w of waiters.filter((x) => pastes.length >= x.n)) w.resolve();
    return Promise.resolve(result);
  };
  const received = (n = 1): Promise<void> =>
    pastes.length >= n ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ n, resolve }));
  return { pastes, handler, received };
}

describe('telegram channel: receiving pastes', () => {
  it('hands an allowed paste to the handler and replies in the chat', async () => {
    const ch = channel();
    const h = recorder();
    await ch.start(h.handler);
    await peer.waitForParkedPolls(1);
    expect(ch.listening).toBe(true);

    const sent = await peer.userSays(`here: \`${PASTE}\``);
    await h.received(1);
    expect(h.pastes[0]).toMatchObject({
      channel: 'ops',
      sender: String(OWNER),
      text: `here: \`${PASTE}\``,
      chatId: String(OWNER),
      messageRef: String(sent.message_id),
    });
    const reply = await peer.waitForBotMessage((m) => m.text === 'Connected gmail.');
    expect(reply.reply_to).toBe(sent.message_id);
    expect(reply.chat_id).toBe(String(OWNER));
  });

  it('passes URLs hidden behind Telegram formatting (text_link entities)', async () => {
    const ch = channel();
    const h = recorder();
    await ch.start(h.handler);
    await peer.userSays('this link', { entities: [{ type: 'text_link', offset: 0, length: 9, url: PASTE }] });
    await h.received(1);
    expect(h.pastes[0]?.text).toBe(`this link\n${PASTE}`);
  });

  it('long-polls: the handler runs within milliseconds and getUpdates is called only a handful of times', async () => {
    const ch = channel();
    const h = recorder();
    await ch.start(h.handler);
    // The first getUpdates parks on the server: an interval poller (timeout 0) never parks.
    await peer.waitForParkedPolls(1);
    expect(peer.getUpdatesCalls).toBe(1);

    const latencies: number[] = [];
    for (let i = 1; i <= 5; i++) {
      await peer.waitForParkedPolls(1);
      const t0 = performance.now();
      await peer.userSays(`${PASTE}&n=${i}`);
      await h.received(i);
      latencies.push(performance.now() - t0);
    }
    // One call per delivered message plus the one parked now: no polling between messages.
    await peer.waitForParkedPolls(1);
    expect(peer.getUpdatesCalls).toBeLessThanOrEqual(6);
    expect(Math.min(...latencies)).toBeLessThan(100);
    expect(h.pastes.map((p) => new URL(p.text).searchParams.get('n'))).toEqual(['1', '2', '3', '4', '5']);
  });

  it("a stranger's message never reaches the handler and gets a short refusal", async () => {
    const ch = channel({ chatId: GROUP });
    const h = recorder();
    await ch.start(h.handler);
    const stranger = await peer.userSays(PASTE, { userId: STRANGER, chatId: GROUP, chatType: 'group' });
    const refusal = await peer.waitForBotMessage((m) => m.text === REFUSAL_TEXT);
    expect(refusal.chat_id).toBe(String(GROUP));
    expect(refusal.reply_to).toBe(stranger.message_id);

    // Messages are handled in order: once the owner's later paste is handled, the stranger's
    // was already dropped without reaching the handler.
    await peer.userSays(PASTE, { userId: OWNER, chatId: GROUP, chatType: 'group' });
    await h.received(1);
    await peer.waitForBotMessage((m) => m.text === 'Connected gmail.');
    expect(h.pastes.map((p) => p.sender)).toEqual([String(OWNER)]);
    expect(peer.botMessages(GROUP).map((m) => m.text)).toEqual([REFUSAL_TEXT, 'Connected gmail.']);
  });

  it('ignores messages from another chat, even from an allowed user', async () => {
    const ch = channel({ chatId: GROUP });
    const h = recorder();
    await ch.start(h.handler);
    await peer.userSays(PASTE, { userId: OWNER, chatId: -999, chatType: 'group' });
    await peer.userSays('http://127.0.0.1/cb?code=second&state=s', { userId: OWNER, chatId: GROUP, chatType: 'group' });
    await h.received(1);
    await peer.waitForBotMessage((m) => m.text === 'Connected gmail.');
    expect(h.pastes).toHaveLength(1);
    expect(h.pastes[0]?.text).toContain('code=second');
    expect(peer.botMessages(-999)).toEqual([]);
  });

  it('deletes the message that carried the code when the handler asks', async () => {
    const ch = channel();
    const h = recorder({ ok: true, reply: 'Connected; your message with the code was deleted.', deleteMessage: true });
    await ch.start(h.handler);
    const sent = await peer.userSays(PASTE);
    await peer.waitForBotMessage((m) => m.text.startsWith('Connected;'));
    expect(peer.deletedMessages()).toEqual([sent.message_id]);
  });

  it('does not delete when not asked, and survives a bot without the right to delete', async () => {
    const ch = channel();
    const keep = recorder({ ok: false, reply: 'That link has expired; a fresh one is on its way.' });
    await ch.start(keep.handler);
    await peer.userSays(PASTE);
    await peer.waitForBotMessage((m) => m.text.startsWith('That link has expired'));
    expect(peer.deletedMessages()).toEqual([]);
    await ch.stop();

    peer.refuseDeletes(true);
    const ch2 = channel();
    const del = recorder({ ok: true, reply: 'Connected.', deleteMessage: true });
    await ch2.start(del.handler);
    await peer.userSays(PASTE);
    await peer.waitForBotMessage((m) => m.text === 'Connected.');
    expect(peer.deletedMessages()).toEqual([]);
    expect(ch2.listening).toBe(true);
  });

  it('answers with an apology when the handler throws, and keeps listening', async () => {
    const ch = channel();
    let calls = 0;
    await ch.start(() => {
      calls++;
      return calls === 1 ? Promise.reject(new Error('boom')) : Promise.resolve({ ok: true, reply: 'second ok' });
    });
    await peer.userSays(PASTE);
    await peer.waitForBotMessage((m) => m.text.startsWith('Something went wrong'));
    await peer.userSays(PASTE);
    await peer.waitForBotMessage((m) => m.text === 'second ok');
  });
});

describe('telegram channel: being a good citizen of the Bot API', () => {
  it('waits exactly retry_after on a 429 before polling again', async () => {
    const clock = new WatchedClock();
    const ch = channel({ clock });
    const h = recorder();
    peer.inject429(7);
    await ch.start(h.handler);
    expect(await clock.nthSleep(1)).toBe(7000);
    expect(ch.state).toBe('backoff');
    expect(peer.getUpdatesCalls).toBe(1);

    await clock.advance(6999);
    expect(clock.pending).toBe(1); // still waiting: no early retry
    expect(peer.getUpdatesCalls).toBe(1);

    await clock.advance(1);
    await peer.waitForParkedPolls(1);
    expect(peer.getUpdatesCalls).toBe(2);
    await peer.userSays(PASTE);
    await h.received(1);
  });

  it('a second poller on the same token reports the 409 clearly and stays passive; the first keeps receiving', async () => {
    const first = channel();
    const h1 = recorder();
    await first.start(h1.handler);
    await peer.waitForParkedPolls(1);

    const clock = new WatchedClock();
    const errors: Error[] = [];
    const gotError = deferred<void>();
    const second = channel({
      clock,
      deps: {
        onError: (e) => {
          errors.push(e);
          gotError.resolve();
        },
      },
    });
    const h2 = recorder();
    await second.start(h2.handler);
    await gotError.promise;
    expect(errors[0]?.message).toContain(CONFLICT_TEXT);
    expect((errors[0] as ChannelError).status).toBe(409);
    expect(errors[0]?.message).not.toContain(peer.token);
    expect(await clock.nthSleep(1)).toBeGreaterThanOrEqual(30_000); // backs off instead of fighting
    expect(second.state).toBe('passive');
    expect(second.listening).toBe(false);
    expect(first.listening).toBe(true);

    await peer.userSays(PASTE);
    await h1.received(1);
    await peer.waitForParkedPolls(1);
    expect(h2.pastes).toEqual([]);
    expect(peer.conflicts).toBe(1);
    expect(peer.getUpdatesCalls).toBe(3); // first: 2, second: 1 — no retry storm
  });

  it('with a leader lease, polls only while holding it and releases it on stop', async () => {
    const clock = new WatchedClock();
    let held = false;
    let released = 0;
    const ch = channel({
      clock,
      deps: {
        leader: {
          acquire: () => Promise.resolve(held),
          release: () => {
            released++;
            return Promise.resolve();
          },
        },
      },
    });
    const h = recorder();
    await ch.start(h.handler);
    await clock.nthSleep(1);
    expect(ch.state).toBe('passive');
    expect(peer.getUpdatesCalls).toBe(0);

    held = true;
    await clock.advance(clock.sleeps[0] ?? 0);
    await peer.waitForParkedPolls(1);
    expect(ch.listening).toBe(true);
    await peer.userSays(PASTE);
    await h.received(1);
    await ch.stop();
    expect(released).toBe(1);
  });

  it('stop() aborts the in-flight long poll at once', async () => {
    const ch = channel({ pollTimeout: 50_000 });
    await ch.start(recorder().handler);
    await peer.waitForParkedPolls(1);
    const t0 = performance.now();
    await ch.stop();
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(ch.listening).toBe(false);
    expect(ch.state).toBe('stopped');
    await peer.waitForNoParkedPolls(); // the server saw the request go away
  });

  it('an abort signal passed to start() stops the loop too', async () => {
    const ch = channel();
    const ctl = new AbortController();
    await ch.start(recorder().handler, { signal: ctl.signal });
    await peer.waitForParkedPolls(1);
    ctl.abort();
    await peer.waitForNoParkedPolls();
    // ...and the channel can be started again afterwards.
    const h = recorder();
    await ch.start(h.handler);
    await peer.userSays(PASTE);
    await h.received(1);
    await expect(ch.start(h.handler)).rejects.toThrow(/already listening/);
  });

  it('backs off with jitter on network errors, without leaking the bot token', async () => {
    const clock = new WatchedClock();
    const logger = recordingLogger();
    let calls = 0;
    const ch = createTelegramChannel(
      'ops',
      { type: 'telegram', bot_token: peer.token, chat_id: OWNER, allow_from: [OWNER], api_root: peer.apiRoot },
      {
        clock,
        logger,
        random: () => 0.5,
        fetch: (input) => {
          calls++;
          return Promise.reject(new Error(`request to ${String(input)} failed, reason: connect ECONNREFUSED`));
        },
      },
    );
    channels.push(ch);
    await ch.start(recorder().handler);
    const first = await clock.nthSleep(1);
    await clock.advance(first);
    const second = await clock.nthSleep(2);
    expect(first).toBe(750); // base 1 s, equal jitter at random()=0.5
    expect(second).toBe(1500); // doubled
    expect(calls).toBe(2);
    expect(ch.state).toBe('backoff');
    expect(logger.lines.join('\n')).not.toContain(peer.token);
    expect(logger.lines.join('\n')).toContain('[bot-token]');
  });
});

describe('telegram channel: sending', () => {
  it('sends the link, user code, expiry and hint as escaped HTML and returns the message id', async () => {
    const clock = new WatchedClock(Date.UTC(2026, 0, 1, 12, 0, 0));
    const ch = channel({ clock });
    const { messageRef } = await ch.send({
      kind: 'reauth_request',
      connection: 'gmail',
      title: 'Re-authorize <gmail> & co',
      text: 'Refresh token expired: app is in "testing" <b>mode</b>.',
      url: 'https://accounts.google.com/o/oauth2/v2/auth?client_id=a&state=x"y<z',
      userCode: 'WDJB-MJHT',
      expiresAt: clock.now() + 9 * 60_000,
      pasteHint: 'tokenwarden complete <url>',
    });
    const [msg] = peer.botMessages(OWNER);
    expect(msg?.message_id).toBe(Number(messageRef));
    expect(msg?.parse_mode).toBe('HTML');
    const text = msg?.text ?? '';
    expect(text).toContain('<b>Re-authorize &lt;gmail&gt; &amp; co</b>');
    expect(text).toContain('app is in &quot;testing&quot; &lt;b&gt;mode&lt;/b&gt;.');
    expect(text).toContain(
      '<a href="https://accounts.google.com/o/oauth2/v2/auth?client_id=a&amp;state=x&quot;y&lt;z">',
    );
    expect(text).toContain('Code: <code>WDJB-MJHT</code>');
    expect(text).toContain('Expires in 9 minutes (12:09 UTC).');
    expect(text).toContain('tokenwarden complete &lt;url&gt;');
    // Only the tags we put there: no raw user-controlled markup survives.
    expect(text.match(/<\/?[a-z]+[^>]*>/g)?.every((t) => /^<\/?(b|a|code)( href="[^"]*")?>$/.test(t))).toBe(true);
  });

  it('asks for the paste on a reauth request without a user code', async () => {
    const ch = channel();
    await ch.send({
      kind: 'reauth_request',
      connection: 'gmail',
      title: 't',
      text: 'x',
      url: 'https://example.com/auth',
    });
    expect(peer.botMessages(OWNER)[0]?.text).toContain('copy the address your browser ends on');
  });

  it('turns API errors into ChannelError with the status and retry_after, never the token', async () => {
    const ch = channel();
    peer.inject429(3, 1, 'sendMessage');
    const err = (await ch
      .send({ kind: 'info', connection: 'c', title: 't', text: 'x' })
      .catch((e: unknown) => e)) as ChannelError;
    expect(err.name).toBe('ChannelError');
    expect(err.status).toBe(429);
    expect(err.retryAfterMs).toBe(3000);
    expect(err.code).toBe('TW_PROVIDER_UNAVAILABLE');
    expect(err.message).toContain('channel ops');
    expect(JSON.stringify({ m: err.message, s: err.stack })).not.toContain(peer.token);
  });

  it('caps an absurd retry_after like a Retry-After header (a timer cannot hold it)', async () => {
    const ch = channel();
    peer.inject429(10 ** 9, 1, 'sendMessage');
    const err = (await ch
      .send({ kind: 'info', connection: 'c', title: 't', text: 'x' })
      .catch((e: unknown) => e)) as ChannelError;
    expect(err.status).toBe(429);
    expect(err.retryAfterMs).toBe(MAX_RETRY_AFTER_MS);
  });

  it('createChannel builds a two-way telegram channel from config', () => {
    const ch = createChannel(
      'ops',
      { type: 'telegram', bot_token: peer.token, chat_id: 1, allow_from: [1], api_root: peer.apiRoot },
      { clock: systemClock, logger: recordingLogger() },
    );
    expect(ch.twoWay).toBe(true);
    expect(ch.type).toBe('telegram');
    expect(typeof ch.start).toBe('function');
  });
});
