/**
 * A Telegram Bot API server for tests: telegram-test-api (sendMessage, getMe, storage, a test
 * user) served from our own http.Server on 127.0.0.1:0, with the parts it lacks answered here:
 *
 * - `getUpdates` with real long-poll semantics: updates below `offset` are acknowledged and
 *   never returned again; with nothing pending the request parks until a user message arrives
 *   or `timeout` seconds pass; a client disconnect frees it at once.
 * - 409 Conflict when a second `getUpdates` arrives while one is parked for the same token
 *   (`conflictMode: 'reject-new'`, the default), or the parked one is terminated in favour of
 *   the new one (`'terminate-old'`, what api.telegram.org does).
 * - 429 with `parameters.retry_after`, injected on demand.
 * - `deleteMessage` that records what was deleted (and can be told to refuse).
 * - `getChat` for the private chats it knows ("Bad Request: chat not found" otherwise), and
 *   401 Unauthorized from `getMe`/`getChat` for any token but the peer's own.
 *
 * See /work/shared/TEST-PEERS.md (Telegram section).
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import http, { type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import telegramTestApi from 'telegram-test-api';
import type { TelegramServer as TelegramServerClass } from 'telegram-test-api/lib/telegramServer.js';

// The package is CommonJS with `module.exports = TelegramServer`: at runtime the default
// import is the class itself, while its typings describe an ES default export.
const TelegramServer = telegramTestApi as unknown as typeof TelegramServerClass;

export const DEFAULT_USER_ID = 4242;
export const CONFLICT_DESCRIPTION =
  'Conflict: terminated by other getUpdates request; make sure that only one bot instance is running';

export interface BotMessage {
  text: string;
  message_id: number;
  chat_id: string;
  parse_mode?: string;
  reply_to?: number;
}

export interface UserSaysOptions {
  userId?: number;
  chatId?: number;
  chatType?: 'private' | 'group' | 'supergroup';
  /** Telegram formatting entities (e.g. a `text_link` hiding a URL behind words). */
  entities?: Array<Record<string, unknown>>;
}

export interface TelegramPeer {
  /** Pass as the channel's `api_root`. */
  apiRoot: string;
  /** A bot token in Telegram's format. */
  token: string;
  /** A user sends a message to the bot; resolves once it is stored (and parked polls are woken). */
  userSays(text: string, opts?: UserSaysOptions): Promise<{ message_id: number; update_id: number }>;
  botMessages(chatId?: number | string): BotMessage[];
  /** Resolves with the first bot message (already sent or future) matching the predicate. */
  waitForBotMessage(predicate: (m: BotMessage) => boolean, timeoutMs?: number): Promise<BotMessage>;
  deletedMessages(): number[];
  /** The next `times` calls of `method` answer 429 with `retry_after`. */
  inject429(retryAfterSeconds: number, times?: number, method?: string): void;
  /** deleteMessage answers "message can't be deleted" (a bot without the right to delete). */
  refuseDeletes(refuse: boolean): void;
  conflictMode: 'reject-new' | 'terminate-old';
  readonly getUpdatesCalls: number;
  /** getUpdates calls answered 409. */
  readonly conflicts: number;
  /** getUpdates requests currently parked waiting for updates. */
  readonly parkedPolls: number;
  /** Resolves when at least `n` getUpdates requests are parked. */
  waitForParkedPolls(n?: number, timeoutMs?: number): Promise<void>;
  /** Resolves when no getUpdates request is parked (e.g. the client aborted its long poll). */
  waitForNoParkedPolls(timeoutMs?: number): Promise<void>;
  /** Resolves when the total number of getUpdates calls reaches `n`. */
  waitForGetUpdatesCalls(n: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

interface StoredUpdate {
  botToken: string;
  updateId: number;
  messageId: number;
  message: { chat: { id: number } };
}

interface TestServerInternals {
  webServer: RequestListener;
  storage: {
    userMessages: StoredUpdate[];
    botMessages: Array<{ botToken: string; messageId: number; message: Record<string, unknown> }>;
  };
}

interface Parked {
  token: string;
  res: ServerResponse;
  finish: (status: number, body: unknown) => void;
}

const formatUpdate = (
  TelegramServer as unknown as { formatUpdate(u: StoredUpdate): { message?: Record<string, unknown> } }
).formatUpdate;

async function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const raw = Buffer.concat(chunks).toString('utf8');
  const url = new URL(req.url ?? '/', 'http://x');
  const fromQuery = Object.fromEntries(url.searchParams);
  if (!raw) return fromQuery;
  if ((req.headers['content-type'] ?? '').includes('application/json'))
    return { ...fromQuery, ...(JSON.parse(raw) as object) };
  return { ...fromQuery, ...Object.fromEntries(new URLSearchParams(raw)) };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.writableEnded || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export async function startTelegramPeer(): Promise<TelegramPeer> {
  const tg = new TelegramServer({ host: '127.0.0.1', port: 1 });
  const internals = tg as unknown as TestServerInternals;
  const token = `${100000000 + Math.floor(Math.random() * 800000000)}:AA${randomBytes(24).toString('base64url').slice(0, 33)}`;
  const events = new EventEmitter();
  events.setMaxListeners(100);
  const acked = new Map<string, number>();
  const parked = new Set<Parked>();
  const deleted: number[] = [];
  const inject: Array<{ method: string; retryAfter: number }> = [];
  let refuseDelete = false;
  let getUpdatesCalls = 0;
  let conflicts = 0;

  const pendingFor = (tok: string): StoredUpdate[] =>
    internals.storage.userMessages
      .filter((u) => u.botToken === tok && u.updateId >= (acked.get(tok) ?? 0))
      .sort((a, b) => a.updateId - b.updateId);

  const format = (u: StoredUpdate): unknown => {
    const f = formatUpdate(u);
    if (f.message) delete f.message['botToken'];
    return f;
  };

  async function getUpdates(tok: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const offset = body['offset'] === undefined ? undefined : Number(body['offset']);
    if (offset !== undefined && Number.isFinite(offset) && offset > 0)
      acked.set(tok, Math.max(acked.get(tok) ?? 0, offset));
    const mine = [...parked].filter((p) => p.token === tok);
    if (mine.length > 0) {
      conflicts++;
      const conflict = { ok: false, error_code: 409, description: CONFLICT_DESCRIPTION };
      if (peer.conflictMode === 'reject-new') {
        sendJson(res, 409, conflict);
        return;
      }
      for (const p of mine) p.finish(409, conflict);
    }
    const ready = pendingFor(tok);
    const timeoutS = Number(body['timeout'] ?? 0);
    if (ready.length > 0 || !(timeoutS > 0)) {
      sendJson(res, 200, { ok: true, result: ready.map(format) });
      return;
    }
    await new Promise<void>((resolve) => {
      const entry: Parked = {
        token: tok,
        res,
        finish: (status, payload) => {
          if (!parked.delete(entry)) return;
          clearTimeout(timer);
          events.off('userMessage', onMessage);
          sendJson(res, status, payload);
          events.emit('parkedChanged');
          resolve();
        },
      };
      const onMessage = (): void => {
        const now = pendingFor(tok);
        if (now.length > 0) entry.finish(200, { ok: true, result: now.map(format) });
      };
      const timer = setTimeout(() => entry.finish(200, { ok: true, result: [] }), timeoutS * 1000);
      res.once('close', () => entry.finish(499, {})); // client went away (aborted long poll)
      events.on('userMessage', onMessage);
      parked.add(entry);
      events.emit('parkedChanged');
    });
  }

  async function deleteMessage(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const chatId = Number(body['chat_id']);
    const messageId = Number(body['message_id']);
    if (refuseDelete) {
      sendJson(res, 400, { ok: false, error_code: 400, description: "Bad Request: message can't be deleted" });
      return;
    }
    if (!tg.deleteMessage(chatId, messageId)) {
      sendJson(res, 400, { ok: false, error_code: 400, description: 'Bad Request: message to delete not found' });
      return;
    }
    deleted.push(messageId);
    sendJson(res, 200, { ok: true, result: true });
  }

  /** getChat: the private chats of users who wrote to the bot (and the default test user); else "chat not found". */
  async function getChat(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const chatId = Number(body['chat_id']);
    const known = new Set([DEFAULT_USER_ID, ...internals.storage.userMessages.map((u) => u.message.chat.id)]);
    if (!known.has(chatId)) {
      sendJson(res, 400, { ok: false, error_code: 400, description: 'Bad Request: chat not found' });
      return;
    }
    sendJson(res, 200, { ok: true, result: { id: chatId, type: 'private', first_name: 'Test' } });
  }

  const app = internals.webServer;
  const server = http.createServer((req, res) => {
    const m = /^\/bot([^/]+)\/([A-Za-z]+)/.exec(new URL(req.url ?? '/', 'http://x').pathname);
    const tok = m?.[1];
    const method = m?.[2]?.toLowerCase();
    if (tok === undefined || method === undefined) {
      app(req, res);
      return;
    }
    if (method === 'getupdates') {
      getUpdatesCalls++;
      events.emit('getUpdates');
    }
    const i = inject.findIndex((x) => x.method === method);
    if (i >= 0) {
      const [hit] = inject.splice(i, 1);
      req.resume();
      sendJson(res, 429, {
        ok: false,
        error_code: 429,
        description: `Too Many Requests: retry after ${hit?.retryAfter ?? 1}`,
        parameters: { retry_after: hit?.retryAfter ?? 1 },
      });
      return;
    }
    const fail = (err: unknown): void => sendJson(res, 500, { ok: false, error_code: 500, description: String(err) });
    if ((method === 'getme' || method === 'getchat') && tok !== token) {
      // api.telegram.org answers a revoked or mistyped bot token like this.
      req.resume();
      sendJson(res, 401, { ok: false, error_code: 401, description: 'Unauthorized' });
      return;
    }
    if (method === 'getchat') getChat(req, res).catch(fail);
    else if (method === 'getupdates') getUpdates(tok, req, res).catch(fail);
    else if (method === 'deletemessage') deleteMessage(req, res).catch(fail);
    else app(req, res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  tg.on('AddedUserMessage', () => events.emit('userMessage'));
  tg.on('AddedBotMessage', () => events.emit('botMessage'));

  const botMessages = (chatId?: number | string): BotMessage[] =>
    internals.storage.botMessages
      .filter((b) => b.botToken === token && (chatId === undefined || String(b.message['chat_id']) === String(chatId)))
      .map((b) => {
        const replyParams = b.message['reply_parameters'] as { message_id?: number } | undefined;
        const out: BotMessage = {
          text: String(b.message['text'] ?? ''),
          message_id: b.messageId,
          chat_id: String(b.message['chat_id']),
        };
        if (typeof b.message['parse_mode'] === 'string') out.parse_mode = b.message['parse_mode'];
        if (replyParams?.message_id !== undefined) out.reply_to = Number(replyParams.message_id);
        return out;
      });

  const waitFor = (event: string, ready: () => boolean, what: string, timeoutMs: number): Promise<void> =>
    new Promise((resolve, reject) => {
      if (ready()) {
        resolve();
        return;
      }
      const check = (): void => {
        if (!ready()) return;
        cleanup();
        resolve();
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`telegram peer: timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        events.off(event, check);
      };
      events.on(event, check);
    });

  const peer: TelegramPeer = {
    apiRoot: `http://127.0.0.1:${port}`,
    token,
    conflictMode: 'reject-new',
    async userSays(text, opts = {}) {
      const userId = opts.userId ?? DEFAULT_USER_ID;
      const client = tg.getClient(token, {
        userId,
        chatId: opts.chatId ?? userId,
        type: opts.chatType ?? 'private',
      });
      const msg = client.makeMessage(text, opts.entities ? { entities: opts.entities as never } : {});
      const before = internals.storage.userMessages.length;
      await tg.addUserMessage(msg);
      const stored = internals.storage.userMessages[before];
      return { message_id: stored?.messageId ?? -1, update_id: stored?.updateId ?? -1 };
    },
    botMessages,
    async waitForBotMessage(predicate, timeoutMs = 5000) {
      let found: BotMessage | undefined;
      await waitFor(
        'botMessage',
        () => (found = botMessages().find(predicate)) !== undefined,
        'a matching bot message',
        timeoutMs,
      );
      return found as BotMessage;
    },
    deletedMessages: () => [...deleted],
    inject429(retryAfterSeconds, times = 1, method = 'getUpdates') {
      for (let i = 0; i < times; i++) inject.push({ method: method.toLowerCase(), retryAfter: retryAfterSeconds });
    },
    refuseDeletes(refuse) {
      refuseDelete = refuse;
    },
    get getUpdatesCalls() {
      return getUpdatesCalls;
    },
    get conflicts() {
      return conflicts;
    },
    get parkedPolls() {
      return parked.size;
    },
    waitForParkedPolls(n = 1, timeoutMs = 5000) {
      return waitFor('parkedChanged', () => parked.size >= n, `${n} parked getUpdates`, timeoutMs);
    },
    waitForNoParkedPolls(timeoutMs = 5000) {
      return waitFor('parkedChanged', () => parked.size === 0, 'no parked getUpdates', timeoutMs);
    },
    waitForGetUpdatesCalls(n, timeoutMs = 5000) {
      return waitFor('getUpdates', () => getUpdatesCalls >= n, `${n} getUpdates calls`, timeoutMs);
    },
    async stop() {
      for (const p of [...parked]) p.finish(200, { ok: true, result: [] });
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      tg.removeAllListeners();
      events.removeAllListeners();
    },
  };
  return peer;
}
