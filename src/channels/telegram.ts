/**
 * Telegram: the two-way channel. Sends links with the Bot API and receives the human's paste
 * through a long-polling `getUpdates` loop, so a paste reaches the handler within
 * milliseconds of arriving at Telegram (long poll, never interval polling).
 *
 * Only one process may poll a bot: a second concurrent `getUpdates` gets 409 Conflict. This
 * loop reports that once, stays passive and retries after a long pause instead of fighting;
 * with a leader lease it polls only while holding the lease.
 *
 * @see https://core.telegram.org/bots/api#getupdates
 * @see https://core.telegram.org/bots/api#formatting-options (HTML style)
 * @see https://grammy.dev/advanced/flood (429 and retry_after)
 */
// grammY's web build: it aborts with the global AbortController. Its Node build wraps every signal
// in the abort-controller package's shim, which Node 24's fetch rejects ("Expected signal to be an
// instance of AbortSignal"), so every Bot API call would fail there.
import { Api, GrammyError, HttpError, type ApiClientOptions } from 'grammy/web';
import type { Message, MessageEntity } from 'grammy/types';
import type { ChannelConfig } from '../config/schema.js';
import { ChannelError } from './errors.js';
import { neutralizeControls } from '../core/text.js';
import { escapeHtml, isWebLink, messageParts, truncate } from './format.js';
import { readUpdate } from './telegram-update.js';
import type { Channel, ChannelDeps, ChannelMessage, PasteHandler } from './types.js';
import { outboundFetch } from '../core/proxy.js';

type TelegramConfig = Extract<ChannelConfig, { type: 'telegram' }>;

export const REFUSAL_TEXT = "not accepted: you are not on this bot's allow list";
export const CONFLICT_TEXT = 'another process is polling this bot; this one stays passive';

/** How long to stay passive after a 409 before trying again. */
const CONFLICT_PAUSE_MS = 60_000;
/** How often, at most, a process without the leader lease asks for it again (less with a short poll_timeout). */
const LEADER_RETRY_MS = 15_000;
/** A wrong token or a deleted bot will not fix itself soon. */
const AUTH_FAILURE_PAUSE_MS = 300_000;
const BACKOFF_BASE_MS = 1_000;
const BACKOFF_MAX_MS = 60_000;
/** A stranger is told once per this period, so the bot cannot be used to spam a chat. */
const REFUSAL_QUIET_MS = 600_000;
const MESSAGE_LIMIT = 4096;
/** How long stop() waits for a paste already being handled. */
const STOP_DRAIN_MS = 5_000;

export type TelegramListenerState = 'stopped' | 'polling' | 'passive' | 'backoff';

export interface TelegramChannel extends Channel {
  readonly twoWay: true;
  start(handler: PasteHandler, opts?: { signal?: AbortSignal }): Promise<void>;
  stop(): Promise<void>;
  readonly listening: boolean;
  /** `passive`: another process polls (409) or holds the leader lease. */
  readonly state: TelegramListenerState;
}

/** Remove the bot token (and anything shaped like one) from text that may echo a request URL. */
export function redactBotToken(text: string, token: string): string {
  let out = token ? text.split(token).join('[bot-token]') : text;
  out = out.replace(/(?<![0-9])\d{5,}:[A-Za-z0-9_-]{20,}(?![A-Za-z0-9_-])/g, '[bot-token]');
  return out;
}

/** Text the human sent, plus URLs hidden behind formatted links (`text_link` entities). */
export function messageText(m: Pick<Message, 'text' | 'caption' | 'entities' | 'caption_entities'>): string {
  const text = m.text ?? m.caption ?? '';
  const entities: MessageEntity[] = m.entities ?? m.caption_entities ?? [];
  const hidden = entities.flatMap((e) => (e.type === 'text_link' ? [e.url] : []));
  return [text, ...hidden].filter((s) => s !== '').join('\n');
}

/** Telegram HTML for a channel message. Every user-controlled string is escaped; the link appears once. */
export function renderTelegramHtml(msg: ChannelMessage, now: number, opts: { twoWay: boolean }): string {
  const p = messageParts(msg, now);
  const lines = [`<b>${escapeHtml(truncate(p.title, 200))}</b>`];
  if (p.cause) lines.push(escapeHtml(truncate(p.cause, 600)));
  lines.push(escapeHtml(truncate(p.now, 1000)));
  if (p.url) {
    lines.push('');
    lines.push(
      isWebLink(p.url)
        ? `<a href="${escapeHtml(p.url)}">Open the authorization page</a>`
        : `<code>${escapeHtml(truncate(p.url, 2000))}</code>`,
    );
  }
  if (p.userCode) lines.push(`Code: <code>${escapeHtml(p.userCode)}</code>`);
  if (p.expiry) lines.push(escapeHtml(p.expiry));
  // Here the human can answer in the chat itself: that is the one way to tell them.
  if (opts.twoWay && msg.kind === 'reauth_request' && p.url && !p.userCode)
    lines.push(
      '',
      'After approving, copy the address your browser ends on (even if the page does not load) and send it here.',
    );
  else if (p.paste) lines.push('', escapeHtml(p.paste));
  if (p.fix || p.fallbacks) lines.push('');
  if (p.fix) lines.push(escapeHtml(truncate(p.fix, 600)));
  if (p.fallbacks) lines.push(escapeHtml(truncate(p.fallbacks, 600)));
  return truncate(lines.join('\n'), MESSAGE_LIMIT);
}

export function createTelegramChannel(name: string, cfg: TelegramConfig, deps: ChannelDeps): TelegramChannel {
  const { clock, logger } = deps;
  const random = deps.random ?? Math.random;
  const token = cfg.bot_token;
  const pollTimeoutS = Math.max(1, Math.round((cfg.poll_timeout ?? 30_000) / 1000));
  // The leader renews its lease once per poll; a standby asks as often, so it takes over within
  // one poll of the lease ending (not up to LEADER_RETRY_MS later).
  const leaderRetryMs = Math.min(LEADER_RETRY_MS, pollTimeoutS * 1000);
  // Node's own fetch (or the injected one) with the global AbortSignal.
  const fetchFn = (deps.fetch ?? outboundFetch) as unknown as NonNullable<ApiClientOptions['fetch']>;
  const apiRoot = cfg.api_root?.replace(/\/+$/, '');
  const baseOpts = { fetch: fetchFn, ...(apiRoot ? { apiRoot } : {}) };
  // The long poll may legitimately take pollTimeout; everything else must answer quickly.
  const pollApi = new Api(token, { ...baseOpts, timeoutSeconds: pollTimeoutS + 15 });
  const api = new Api(token, { ...baseOpts, timeoutSeconds: Math.ceil((deps.sendTimeoutMs ?? 10_000) / 1000) });
  const allowed = new Set(cfg.allow_from);
  const refusedAt = new Map<number, number>();

  let state: TelegramListenerState = 'stopped';
  let controller: AbortController | null = null;
  let loop: Promise<void> | null = null;
  let queue: Promise<void> = Promise.resolve();
  let holdingLease = false;

  const toError = (err: unknown, method: string): ChannelError => {
    if (err instanceof ChannelError) return err;
    if (err instanceof GrammyError) {
      // The error payload is JSON from the network: any field may be missing or of another type,
      // and this runs inside the poll loop's catch, where a throw would end the loop.
      const retry: unknown = (err.parameters as { retry_after?: unknown } | undefined)?.retry_after;
      const code: unknown = err.error_code;
      const description: unknown = err.description;
      const said = typeof description === 'string' ? description : (JSON.stringify(description) ?? 'no description');
      return new ChannelError(name, `Telegram ${method} failed: ${String(code)} ${redactBotToken(said, token)}`, {
        status: typeof code === 'number' ? code : undefined,
        retryAfterMs: typeof retry === 'number' && Number.isFinite(retry) && retry >= 0 ? retry * 1000 : undefined,
      });
    }
    const inner = err instanceof HttpError ? err.error : err;
    const detail = inner instanceof Error ? inner.message : String(inner);
    // Never keep the original as `cause`: fetch errors may carry the URL, which holds the token.
    return new ChannelError(name, `network error calling Telegram ${method}: ${redactBotToken(detail, token)}`, {
      transient: true,
    });
  };

  const report = (err: ChannelError): void => {
    logger.error(err.message, { channel: name, code: err.code, status: err.status });
    try {
      deps.onError?.(err);
    } catch {}
  };

  const chatMatches = (chat: Message['chat']): boolean => {
    const want = String(cfg.chat_id);
    if (String(chat.id) === want) return true;
    return want.startsWith('@') && 'username' in chat && `@${chat.username ?? ''}` === want;
  };

  async function reply(chatId: number, text: string, replyTo?: number): Promise<void> {
    try {
      await api.sendMessage(chatId, truncate(neutralizeControls(text, { multiline: true }), MESSAGE_LIMIT), {
        link_preview_options: { is_disabled: true },
        ...(replyTo !== undefined
          ? { reply_parameters: { message_id: replyTo, allow_sending_without_reply: true } }
          : {}),
      });
    } catch (err) {
      logger.warn('telegram: could not send a reply', { channel: name, error: toError(err, 'sendMessage').message });
    }
  }

  async function handleMessage(m: Message, handler: PasteHandler): Promise<void> {
    const from = m.from?.id;
    const inChat = chatMatches(m.chat);
    if (from === undefined || !allowed.has(from)) {
      logger.warn('telegram: message from a sender not on the allow list ignored', {
        channel: name,
        sender: from,
        chat: m.chat.id,
      });
      // Answer strangers only where the bot is meant to talk: its chat, or their private chat.
      if (from !== undefined && (inChat || m.chat.type === 'private')) {
        const last = refusedAt.get(from);
        const now = clock.now();
        if (last === undefined || now - last >= REFUSAL_QUIET_MS) {
          if (refusedAt.size > 1000) refusedAt.clear();
          refusedAt.set(from, now);
          await reply(m.chat.id, REFUSAL_TEXT, m.message_id);
        }
      }
      return;
    }
    if (!inChat) {
      logger.info('telegram: message from an allowed user in another chat ignored', { channel: name, chat: m.chat.id });
      return;
    }
    const text = messageText(m);
    if (text === '') {
      await reply(m.chat.id, 'Send the address from your browser as text.', m.message_id);
      return;
    }
    let result;
    try {
      result = await handler({
        channel: name,
        sender: String(from),
        text,
        chatId: String(m.chat.id),
        messageRef: String(m.message_id),
        receivedAt: clock.now(),
      });
    } catch (err) {
      logger.error('telegram: paste handler failed', { channel: name, error: (err as Error).message });
      await reply(m.chat.id, 'Something went wrong on our side while reading that; please try again.', m.message_id);
      return;
    }
    if (result.deleteMessage) {
      try {
        await api.deleteMessage(m.chat.id, m.message_id);
      } catch (err) {
        // In groups the bot may lack the right to delete; the code is consumed anyway.
        logger.info('telegram: could not delete the message that carried the code', {
          channel: name,
          error: toError(err, 'deleteMessage').message,
        });
      }
      await reply(m.chat.id, result.reply);
    } else {
      await reply(m.chat.id, result.reply, m.message_id);
    }
  }

  async function run(handler: PasteHandler, signal: AbortSignal): Promise<void> {
    let offset: number | undefined;
    let failures = 0;
    let inConflict = false;
    const pause = async (ms: number): Promise<void> => {
      await clock.sleep(ms, signal).catch(() => undefined);
    };
    while (!signal.aborted) {
      if (deps.leader) {
        let held = false;
        try {
          held = await deps.leader.acquire();
        } catch (err) {
          logger.warn('telegram: leader lease check failed', { channel: name, error: (err as Error).message });
        }
        holdingLease = held;
        if (!held) {
          state = 'passive';
          await pause(leaderRetryMs);
          continue;
        }
      }
      if (!inConflict) state = 'polling';
      try {
        const updates = await pollApi.getUpdates(
          { ...(offset !== undefined ? { offset } : {}), timeout: pollTimeoutS, allowed_updates: ['message'] },
          // grammY's types name the abort-controller shim; its web build uses the global AbortSignal.
          signal as unknown as Parameters<Api['getUpdates']>[1],
        );
        failures = 0;
        if (inConflict) {
          inConflict = false;
          logger.info('telegram: polling resumed; no other poller is active now', { channel: name });
        }
        state = 'polling';
        if (!Array.isArray(updates))
          throw new ChannelError(name, 'Telegram getUpdates answered without a list of updates', { transient: true });
        for (const raw of updates as unknown[]) {
          // Checked, not trusted: a malformed update is skipped, and acknowledged with the rest.
          const u = readUpdate(raw);
          if (u.updateId !== null) offset = Math.max(offset ?? 0, u.updateId + 1); // acknowledged by the next getUpdates
          if (u.malformed) {
            logger.warn('telegram: malformed update ignored', {
              channel: name,
              update: u.updateId,
              reason: u.malformed,
            });
            continue;
          }
          const m = u.message;
          if (!m) continue;
          // Handled in order, off the poll loop: the next long poll starts at once.
          queue = queue
            .then(() => handleMessage(m, handler))
            .catch((err: unknown) => logger.error('telegram: message handling failed', { error: String(err) }));
        }
      } catch (err) {
        if (signal.aborted) break;
        const e = toError(err, 'getUpdates');
        if (e.status === 409) {
          state = 'passive';
          if (!inConflict) {
            inConflict = true;
            const why = /webhook/i.test(e.message)
              ? 'a webhook is set for this bot, so getUpdates cannot be used (remove the webhook or the other integration)'
              : CONFLICT_TEXT;
            report(
              new ChannelError(name, `${why}; retrying in ${CONFLICT_PAUSE_MS / 1000}s (Telegram 409 Conflict)`, {
                status: 409,
                transient: false,
              }),
            );
          }
          await pause(CONFLICT_PAUSE_MS);
        } else if (e.status === 429) {
          state = 'backoff';
          const wait = e.retryAfterMs ?? 5_000;
          logger.warn('telegram: rate limited; waiting as told', { channel: name, retryAfterMs: wait });
          await pause(wait);
        } else if (e.status === 401 || e.status === 404) {
          state = 'backoff';
          report(
            new ChannelError(name, `Telegram rejected the bot token (${e.status}); check bot_token`, {
              status: e.status,
            }),
          );
          await pause(AUTH_FAILURE_PAUSE_MS);
        } else {
          state = 'backoff';
          failures++;
          const cap = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.min(failures - 1, 16));
          const wait = Math.round(cap / 2 + (random() * cap) / 2); // "equal jitter"
          logger.warn('telegram: getUpdates failed; backing off', { channel: name, error: e.message, waitMs: wait });
          await pause(wait);
        }
      }
    }
  }

  return {
    name,
    type: 'telegram',
    twoWay: true,
    get listening() {
      return state === 'polling';
    },
    get state() {
      return state;
    },

    /** getMe proves the bot token, getChat that the bot can reach chat_id; nothing is sent. */
    async check() {
      try {
        await api.getMe();
      } catch (err) {
        throw toError(err, 'getMe');
      }
      try {
        await api.getChat(cfg.chat_id);
      } catch (err) {
        throw toError(err, 'getChat');
      }
    },

    async send(msg: ChannelMessage) {
      try {
        const sent = await api.sendMessage(cfg.chat_id, renderTelegramHtml(msg, clock.now(), { twoWay: true }), {
          parse_mode: 'HTML',
          link_preview_options: { is_disabled: true },
        });
        return { messageRef: String(sent.message_id) };
      } catch (err) {
        throw toError(err, 'sendMessage');
      }
    },

    async start(handler: PasteHandler, opts: { signal?: AbortSignal } = {}) {
      if (loop && controller?.signal.aborted) await loop; // winding down after the caller's abort
      if (loop) throw new Error(`channel ${name}: already listening`);
      const ctl = new AbortController();
      controller = ctl;
      opts.signal?.addEventListener('abort', () => ctl.abort(), { once: true });
      if (opts.signal?.aborted) ctl.abort();
      state = deps.leader ? 'passive' : 'polling';
      const running: Promise<void> = run(handler, ctl.signal)
        .catch((err: unknown) => report(toError(err, 'getUpdates')))
        .finally(() => {
          state = 'stopped';
          if (loop === running) {
            loop = null; // ended by the caller's signal: start() may be called again
            controller = null;
          }
        });
      loop = running;
    },

    async stop() {
      controller?.abort();
      const running = loop;
      loop = null;
      controller = null;
      if (running) await running;
      // Let a paste being handled finish (its tokens must be stored), but never hang shutdown.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([queue, new Promise<void>((r) => (timer = setTimeout(r, STOP_DRAIN_MS).unref()))]);
      clearTimeout(timer);
      if (holdingLease && deps.leader) {
        holdingLease = false;
        await deps.leader.release().catch(() => undefined);
      }
      state = 'stopped';
    },
  };
}
