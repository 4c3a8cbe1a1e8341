/**
 * Bad input: random and hostile Bot API updates through the real Telegram channel
 * (src/channels/telegram.ts), served by a minimal getUpdates endpoint on 127.0.0.1 that hands
 * out whatever JSON the property generates: wrong types, missing fields, huge texts, odd
 * entities, unknown chats and senders, edited messages, non-message updates, and broken
 * getUpdates answers (HTML, non-lists, error codes).
 *
 * Every batch ends with a well-formed sentinel from the allow-listed user; the channel handles
 * messages in order, so the sentinel reaching the handler proves the loop survived the batch
 * and is still polling. Then: exactly the allow-listed, well-formed texts in the configured
 * chat reached the handler, in order, and nothing else did; no exception escaped.
 */
import { once } from 'node:events';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createTelegramChannel, type TelegramChannel } from '../../src/channels/telegram.js';
import type { IncomingPaste, PasteResult } from '../../src/channels/types.js';
import { systemClock, type Clock } from '../../src/core/clock.js';
import { recordingLogger } from '../channels/helpers.js';

const TOKEN = '123456789:AAfuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzz1';
const OWNER = 4242;
const DEPUTY = 5151;
const ALLOWED = [OWNER, DEPUTY];
const CHAT = -100_777;
const RUNS = 300;

// ------------------------------------------------------------------ a minimal Bot API server

interface Queued {
  seq: number;
  payload: unknown;
}

/** Raw answers for the next getUpdates calls (broken bodies, error codes), before any queued updates. */
interface RawAnswer {
  status: number;
  body: string;
  contentType: string;
}

class FakeBotApi {
  readonly server = http.createServer((req, res) => void this.route(req, res));
  private queue: Queued[] = [];
  private rawAnswers: RawAnswer[] = [];
  private parked: Array<() => void> = [];
  private nextSeq = 1;
  sent = 0;
  apiRoot = '';

  async start(): Promise<void> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.apiRoot = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Queue updates; returns the sequence number each one is acknowledged by. */
  push(payloads: unknown[]): number[] {
    const seqs = payloads.map((payload) => {
      const seq = this.nextSeq++;
      this.queue.push({
        seq,
        payload: typeof payload === 'function' ? (payload as (s: number) => unknown)(seq) : payload,
      });
      return seq;
    });
    this.wake();
    return seqs;
  }

  answerRaw(answers: RawAnswer[]): void {
    this.rawAnswers.push(...answers);
    this.wake();
  }

  async stop(): Promise<void> {
    this.wake();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private wake(): void {
    for (const w of this.parked.splice(0)) w();
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const method = /\/bot[^/]+\/(\w+)/.exec(req.url ?? '')?.[1]?.toLowerCase() ?? '';
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
    } catch {}
    const json = (status: number, payload: unknown): void => {
      if (res.writableEnded || res.destroyed) return;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(payload));
    };
    if (method !== 'getupdates') {
      if (method === 'sendmessage') this.sent++;
      json(200, {
        ok: true,
        result: { message_id: 1, date: 0, chat: { id: Number(body['chat_id']) || 0, type: 'private' } },
      });
      return;
    }
    const offset = typeof body['offset'] === 'number' ? body['offset'] : 0;
    this.queue = this.queue.filter((q) => q.seq >= offset);
    const timeoutS = typeof body['timeout'] === 'number' ? body['timeout'] : 0;
    const deadline = Date.now() + timeoutS * 1000;
    for (;;) {
      const raw = this.rawAnswers.shift();
      if (raw) {
        if (!res.destroyed) {
          res.writeHead(raw.status, { 'content-type': raw.contentType });
          res.end(raw.body);
        }
        return;
      }
      if (this.queue.length > 0 || Date.now() >= deadline || res.destroyed) {
        json(200, { ok: true, result: this.queue.map((q) => q.payload) });
        return;
      }
      // Long poll: park until updates are queued or the poll's own timeout passes.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
        res.once('close', resolve);
        this.parked.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}

// ------------------------------------------------------------------ generators

const wrongType = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.double(),
  fc.string({ maxLength: 20 }),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 3 }),
);
/** Wrong types that are never a safe integer (ids). */
const notAnInteger = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.double({ noInteger: true }),
  fc.constantFrom('4242', '-100777', '', 'NaN'),
  fc.constant([OWNER]),
  fc.constant({ id: OWNER }),
);
/** Wrong types for an object that must carry an integer `id` (a sender, a chat). */
const notAnIdObject = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.double(),
  fc.constantFrom('4242', ''),
  fc.constant([OWNER]),
  fc.constant({ id: String(OWNER) }),
  fc.constant({ user_id: OWNER }),
);
const notAString = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.constant(['x']),
  fc.constant({ text: 'x' }),
);

const text = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 120 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 80 }) },
  { weight: 2, arbitrary: fc.webUrl({ withQueryParameters: true, withFragments: true }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 80 }) },
  // Huge texts: far past Telegram's 4096-character limit.
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.integer({ min: 4_097, max: 200_000 }), fc.string({ maxLength: 8 }))
      .map(([n, s]) => 'x'.repeat(n) + s),
  },
  { weight: 1, arbitrary: fc.constant('') },
);

interface Entity {
  type: string;
  offset: number;
  length: number;
  url?: string;
}
const entity: fc.Arbitrary<Entity> = fc.oneof(
  fc.record({
    type: fc.constantFrom('bold', 'italic', 'code', 'pre', 'url', 'mention', 'spoiler', 'custom_emoji', 'martian'),
    offset: fc.nat(),
    length: fc.nat(),
  }),
  fc.record({
    type: fc.constant('text_link'),
    offset: fc.nat(),
    length: fc.nat(),
    url: fc.oneof(fc.webUrl(), fc.string({ maxLength: 30 })),
  }),
);

interface Msg {
  message_id: number;
  date: number;
  from?: { id: number; is_bot: boolean; first_name: string };
  chat: { id: number; type: string; username?: string };
  text?: string;
  caption?: string;
  entities?: Entity[];
  caption_entities?: Entity[];
}

/** A well-formed message and the text the channel must hand over (null: must not reach the handler). */
const message: fc.Arbitrary<{ m: Msg; expect: string | null }> = fc
  .record({
    sender: fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom(...ALLOWED) },
      { weight: 2, arbitrary: fc.integer({ min: 1, max: 2 ** 40 }).filter((n) => !ALLOWED.includes(n)) },
      { weight: 1, arbitrary: fc.constant(undefined) }, // no sender (anonymous admin, channel post)
    ),
    chat: fc.oneof(
      { weight: 3, arbitrary: fc.constant({ id: CHAT, type: 'supergroup' }) },
      { weight: 1, arbitrary: fc.constant({ id: OWNER, type: 'private' }) }, // the owner's private chat
      {
        weight: 1,
        arbitrary: fc
          .integer({ min: -(2 ** 45), max: 2 ** 45 })
          .filter((n) => n !== CHAT)
          .map((id) => ({ id, type: 'group' })),
      },
    ),
    body: fc.oneof(
      fc.record({
        kind: fc.constant('text' as const),
        text,
        entities: fc.option(fc.array(entity, { maxLength: 4 }), { nil: undefined }),
      }),
      fc.record({
        kind: fc.constant('caption' as const),
        text,
        entities: fc.option(fc.array(entity, { maxLength: 4 }), { nil: undefined }),
      }),
      fc.record({ kind: fc.constant('none' as const) }), // a sticker, a photo without caption
    ),
    messageId: fc.integer({ min: 1, max: 2 ** 31 }),
  })
  .map(({ sender, chat, body, messageId }) => {
    const m: Msg = { message_id: messageId, date: 1_700_000_000, chat };
    if (sender !== undefined) m.from = { id: sender, is_bot: false, first_name: 'someone' };
    let words = '';
    let entities: Entity[] = [];
    if (body.kind === 'text') {
      m.text = body.text;
      if (body.entities) m.entities = entities = body.entities;
      words = body.text;
    } else if (body.kind === 'caption') {
      m.caption = body.text;
      if (body.entities) m.caption_entities = entities = body.entities;
      words = body.text;
    }
    // The paste is the text plus the URLs hidden behind formatted links.
    const pasted = [words, ...entities.flatMap((e) => (e.type === 'text_link' && e.url !== undefined ? [e.url] : []))]
      .filter((s) => s !== '')
      .join('\n');
    const deliver = sender !== undefined && ALLOWED.includes(sender) && chat.id === CHAT && pasted !== '';
    return { m, expect: deliver ? pasted : null };
  });

type Update = (seq: number) => unknown;
interface Case {
  update: Update;
  expect: string | null;
  what: string;
}

const wellFormed: fc.Arbitrary<Case> = message.map(({ m, expect }) => ({
  update: (seq) => ({ update_id: seq, message: m }),
  expect,
  what: 'message',
}));

/** Other kinds of update: never a paste, even with an allow-listed text in them. */
const otherKinds: fc.Arbitrary<Case> = fc
  .tuple(
    fc.constantFrom(
      'edited_message',
      'channel_post',
      'edited_channel_post',
      'callback_query',
      'my_chat_member',
      'poll',
      'inline_query',
      'business_message',
      'unknown_future_kind',
    ),
    message,
  )
  .map(([kind, { m }]) => ({ update: (seq) => ({ update_id: seq, [kind]: m }), expect: null, what: kind }));

type Corruption = (u: { update_id: unknown; message: Record<string, unknown> }) => unknown;
const set =
  (path: string[], value: unknown): Corruption =>
  (u) => {
    let o: Record<string, unknown> = u as unknown as Record<string, unknown>;
    for (const k of path.slice(0, -1)) {
      const next = o[k];
      if (typeof next !== 'object' || next === null) return u;
      o = next as Record<string, unknown>;
    }
    const last = path[path.length - 1] as string;
    if (value === undefined) delete o[last];
    else o[last] = value;
    return u;
  };

/** A message from the allow-listed owner in the right chat, broken in one place the channel reads. */
const corruption: fc.Arbitrary<{ name: string; fn: Corruption }> = fc.oneof(
  wrongType.map((v) => ({ name: 'message', fn: set(['message'], v) })),
  fc.constant({ name: 'from missing', fn: set(['message', 'from'], undefined) }),
  notAnIdObject.map((v) => ({ name: 'from', fn: set(['message', 'from'], v) })),
  notAnInteger.map((v) => ({ name: 'from.id', fn: set(['message', 'from', 'id'], v) })),
  fc.constant({ name: 'from.id missing', fn: set(['message', 'from', 'id'], undefined) }),
  notAnIdObject.map((v) => ({ name: 'chat', fn: set(['message', 'chat'], v) })),
  notAnInteger.map((v) => ({ name: 'chat.id', fn: set(['message', 'chat', 'id'], v) })),
  fc.constant({ name: 'chat missing', fn: set(['message', 'chat'], undefined) }),
  notAString.map((v) => ({ name: 'chat.type', fn: set(['message', 'chat', 'type'], v) })),
  notAString.map((v) => ({ name: 'text', fn: set(['message', 'text'], v) })),
  notAString.map((v) => ({ name: 'caption', fn: set(['message', 'caption'], v) })),
  fc
    .oneof(
      wrongType.filter((v) => !Array.isArray(v) || v.length > 0),
      fc.constant([null]),
      fc.constant([{ type: 7, offset: 0, length: 1 }]),
      fc.constant([{ type: 'text_link', offset: 0, length: 3 }]), // a hidden link without its URL
      fc.constant([{ type: 'text_link', offset: 0, length: 3, url: { href: 'http://x' } }]),
    )
    .map((v) => ({ name: 'entities', fn: set(['message', 'entities'], v) })),
  notAnInteger.map((v) => ({ name: 'message_id', fn: set(['message', 'message_id'], v) })),
  fc.oneof(notAnInteger, fc.constant(-1)).map((v) => ({ name: 'update_id', fn: set(['update_id'], v) })),
  wrongType.map((v) => ({ name: 'the update itself', fn: () => v })),
);

const hostile: fc.Arbitrary<Case> = fc
  .tuple(fc.string({ minLength: 1, maxLength: 60 }), corruption)
  .map(([words, c]) => ({
    update: (seq) => {
      const good = {
        update_id: seq,
        message: {
          message_id: seq,
          date: 1_700_000_000,
          from: { id: OWNER, is_bot: false, first_name: 'owner' },
          chat: { id: CHAT, type: 'supergroup' },
          text: `paste ${words}`,
        } as Record<string, unknown>,
      };
      return c.fn(good);
    },
    // "from missing" is a message without a sender: never a paste either.
    expect: null,
    what: `corrupted ${c.name}`,
  }));

const batch = fc.array(
  fc.oneof(
    { weight: 3, arbitrary: wellFormed },
    { weight: 1, arbitrary: otherKinds },
    { weight: 3, arbitrary: hostile },
  ),
  {
    minLength: 1,
    maxLength: 8,
  },
);

// ------------------------------------------------------------------ the channel under test

/** Real time, but back-off pauses are cut to a few milliseconds so broken answers do not stall the run. */
const fastPauses: Clock = {
  now: () => systemClock.now(),
  sleep: (ms, signal) => systemClock.sleep(Math.min(ms, 5), signal),
} as Clock;

const api = new FakeBotApi();
const logger = recordingLogger();
const escaped: unknown[] = [];
const onEscape = (err: unknown): void => {
  escaped.push(err);
};
let channel: TelegramChannel;
const pastes: IncomingPaste[] = [];
let waiter: { text: string; resolve: () => void } | null = null;

async function handler(p: IncomingPaste): Promise<PasteResult> {
  pastes.push(p);
  if (waiter && p.text === waiter.text) waiter.resolve();
  return { ok: false, reply: 'not a link' };
}

let sentinelCount = 0;
/** Queue a batch plus a sentinel; resolves with what reached the handler before the sentinel. */
async function feed(updates: Update[]): Promise<IncomingPaste[]> {
  const sentinel = `sentinel ${++sentinelCount}`;
  const seen = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      const recent = logger.lines.slice(-5).join('\n');
      reject(
        new Error(
          `the channel (${channel.state}) did not hand over ${sentinel}; it stopped polling or handling:\n${recent}`,
        ),
      );
    }, 10_000);
    waiter = {
      text: sentinel,
      resolve: () => {
        clearTimeout(timer);
        resolve();
      },
    };
  });
  const start = pastes.length;
  api.push([
    ...updates,
    (seq: number) => ({
      update_id: seq,
      message: {
        message_id: seq,
        date: 1,
        from: { id: OWNER, is_bot: false, first_name: 'o' },
        chat: { id: CHAT, type: 'supergroup' },
        text: sentinel,
      },
    }),
  ]);
  await seen;
  waiter = null;
  return pastes.slice(start, -1);
}

beforeAll(async () => {
  process.on('unhandledRejection', onEscape);
  process.on('uncaughtException', onEscape);
  await api.start();
  channel = createTelegramChannel(
    'ops',
    {
      type: 'telegram',
      bot_token: TOKEN,
      chat_id: CHAT,
      allow_from: ALLOWED,
      api_root: api.apiRoot,
      poll_timeout: 1_000,
    },
    { clock: fastPauses, logger, onError: () => undefined },
  );
  await channel.start(handler);
});

afterAll(async () => {
  await channel?.stop();
  await api.stop();
  process.off('unhandledRejection', onEscape);
  process.off('uncaughtException', onEscape);
});

describe('Telegram channel on random and hostile updates', () => {
  it('hands over exactly the allow-listed, well-formed texts from its chat, in order, and keeps polling', async () => {
    await fc.assert(
      fc.asyncProperty(batch, async (cases) => {
        const got = await feed(cases.map((c) => c.update));
        const want = cases.flatMap((c) => (c.expect === null ? [] : [c.expect]));
        expect(got.map((p) => p.text)).toEqual(want);
        for (const p of got) {
          expect(ALLOWED.map(String)).toContain(p.sender);
          expect(p.chatId).toBe(String(CHAT));
          expect(typeof p.text).toBe('string');
        }
        expect(channel.state).toBe('polling');
      }),
      { numRuns: RUNS },
    );
    expect(escaped).toEqual([]);
    // Nothing blew up inside the channel either (a caught TypeError is still a crash of that update).
    expect(logger.lines.filter((l) => /handling failed|handler failed|TypeError/.test(l))).toEqual([]);
  }, 120_000);

  it('never hands over a corrupted update, even one from the owner in the right chat', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(hostile, { minLength: 1, maxLength: 6 }), async (cases) => {
        const got = await feed(cases.map((c) => c.update));
        expect(got).toEqual([]);
      }),
      { numRuns: RUNS },
    );
    expect(escaped).toEqual([]);
    expect(logger.lines.some((l) => l.includes('malformed update ignored'))).toBe(true);
  }, 120_000);

  it('survives broken getUpdates answers (HTML, non-lists, error codes) and resumes with the next update', async () => {
    const broken = fc.constantFrom<RawAnswer>(
      { status: 502, body: '<html><body>Bad Gateway</body></html>', contentType: 'text/html' },
      { status: 200, body: '<html>not json</html>', contentType: 'text/html' },
      { status: 200, body: '{"ok":true,"result":{"update_id":1}}', contentType: 'application/json' },
      { status: 200, body: '{"ok":true,"result":null}', contentType: 'application/json' },
      { status: 200, body: '{"ok":true,"result":"[]"}', contentType: 'application/json' },
      { status: 200, body: '{"ok":true}', contentType: 'application/json' },
      { status: 200, body: '[]', contentType: 'application/json' },
      { status: 200, body: '', contentType: 'application/json' },
      { status: 500, body: '{"ok":false,"error_code":"boom","description":{"x":1}}', contentType: 'application/json' },
      {
        status: 429,
        body: '{"ok":false,"error_code":429,"description":"slow down","parameters":{"retry_after":"soon"}}',
        contentType: 'application/json',
      },
      {
        status: 409,
        body: '{"ok":false,"error_code":409,"description":"Conflict: terminated by other getUpdates request"}',
        contentType: 'application/json',
      },
      {
        status: 401,
        body: '{"ok":false,"error_code":401,"description":"Unauthorized"}',
        contentType: 'application/json',
      },
    );
    await fc.assert(
      fc.asyncProperty(fc.array(broken, { minLength: 1, maxLength: 4 }), wellFormed, async (answers, c) => {
        api.answerRaw(answers);
        const got = await feed([c.update]);
        expect(got.map((p) => p.text)).toEqual(c.expect === null ? [] : [c.expect]);
      }),
      { numRuns: 100 },
    );
    expect(escaped).toEqual([]);
    expect(channel.state).toBe('polling');
  }, 120_000);
});
