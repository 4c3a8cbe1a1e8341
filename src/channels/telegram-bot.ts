/**
 * One Telegram bot as the channel uses it: its two Bot API clients, its listener state, how a
 * Bot API failure becomes a {@link ChannelError}, and what happens to a message a human sends
 * (allow list, chat, paste handler, reply).
 */
// grammY's web build: it aborts with the global AbortController. Its Node build wraps every signal
// in the abort-controller package's shim, which Node 24's fetch rejects ("Expected signal to be an
// instance of AbortSignal"), so every Bot API call would fail there.
import { Api, GrammyError, HttpError, type ApiClientOptions } from 'grammy/web';
import type { Message } from 'grammy/types';
import type { ChannelConfig } from '../config/schema.js';
import { MAX_RETRY_AFTER_MS } from '../core/http-policy.js';
import { outboundFetch } from '../core/proxy.js';
import { neutralizeControls } from '../core/text.js';
import { ChannelError } from './errors.js';
import { truncate } from './format.js';
import { MESSAGE_LIMIT, messageText, redactBotToken } from './telegram-format.js';
import type { ChannelDeps, PasteHandler } from './types.js';

export type TelegramConfig = Extract<ChannelConfig, { type: 'telegram' }>;
export type TelegramListenerState = 'stopped' | 'polling' | 'passive' | 'backoff';

export const REFUSAL_TEXT = "not accepted: you are not on this bot's allow list";

/** How often, at most, a process without the leader lease asks for it again (less with a short poll_timeout). */
const LEADER_RETRY_MS = 15_000;
/** A stranger is told once per this period, so the bot cannot be used to spam a chat. */
const REFUSAL_QUIET_MS = 600_000;

export interface TelegramBot {
  readonly name: string;
  readonly cfg: TelegramConfig;
  readonly deps: ChannelDeps;
  readonly random: () => number;
  readonly pollTimeoutS: number;
  /** How long a standby waits before asking for the leader lease again. */
  readonly leaderRetryMs: number;
  /** For the long poll (may take poll_timeout). */
  readonly pollApi: Api;
  /** For everything else (must answer quickly). */
  readonly api: Api;
  readonly allowed: ReadonlySet<number>;
  /** When each stranger was last told they are not on the allow list. */
  readonly refusedAt: Map<number, number>;
  state: TelegramListenerState;
  holdingLease: boolean;
  /** Messages are handled in order, off the poll loop. */
  queue: Promise<void>;
}

export function telegramBot(name: string, cfg: TelegramConfig, deps: ChannelDeps): TelegramBot {
  const pollTimeoutS = Math.max(1, Math.round((cfg.poll_timeout ?? 30_000) / 1000));
  // Node's own fetch (or the injected one) with the global AbortSignal.
  const fetchFn = (deps.fetch ?? outboundFetch) as unknown as NonNullable<ApiClientOptions['fetch']>;
  const apiRoot = cfg.api_root?.replace(/\/+$/, '');
  const baseOpts = { fetch: fetchFn, ...(apiRoot ? { apiRoot } : {}) };
  return {
    name,
    cfg,
    deps,
    random: deps.random ?? Math.random,
    pollTimeoutS,
    // The leader renews its lease once per poll; a standby asks as often, so it takes over within
    // one poll of the lease ending (not up to LEADER_RETRY_MS later).
    leaderRetryMs: Math.min(LEADER_RETRY_MS, pollTimeoutS * 1000),
    pollApi: new Api(cfg.bot_token, { ...baseOpts, timeoutSeconds: pollTimeoutS + 15 }),
    api: new Api(cfg.bot_token, { ...baseOpts, timeoutSeconds: Math.ceil((deps.sendTimeoutMs ?? 10_000) / 1000) }),
    allowed: new Set(cfg.allow_from),
    refusedAt: new Map(),
    state: 'stopped',
    holdingLease: false,
    queue: Promise.resolve(),
  };
}

/** A Bot API failure as a ChannelError; never carries the bot token (nor a cause that may). */
export function telegramError(bot: TelegramBot, err: unknown, method: string): ChannelError {
  if (err instanceof ChannelError) return err;
  const token = bot.cfg.bot_token;
  if (err instanceof GrammyError) {
    // The error payload is JSON from the network: any field may be missing or of another type,
    // and this runs inside the poll loop's catch, where a throw would end the loop.
    const retry: unknown = (err.parameters as { retry_after?: unknown } | undefined)?.retry_after;
    const code: unknown = err.error_code;
    const description: unknown = err.description;
    const said = typeof description === 'string' ? description : (JSON.stringify(description) ?? 'no description');
    return new ChannelError(bot.name, `Telegram ${method} failed: ${String(code)} ${redactBotToken(said, token)}`, {
      status: typeof code === 'number' ? code : undefined,
      // Seconds in the body (Bot API `ResponseParameters`), capped like a Retry-After header.
      retryAfterMs:
        typeof retry === 'number' && Number.isFinite(retry) && retry >= 0
          ? Math.min(retry * 1000, MAX_RETRY_AFTER_MS)
          : undefined,
    });
  }
  const inner = err instanceof HttpError ? err.error : err;
  const detail = inner instanceof Error ? inner.message : String(inner);
  // Never keep the original as `cause`: fetch errors may carry the URL, which holds the token.
  return new ChannelError(bot.name, `network error calling Telegram ${method}: ${redactBotToken(detail, token)}`, {
    transient: true,
  });
}

/** Log a failure the caller cannot see and pass it to `onError`. */
export function reportFailure(bot: TelegramBot, err: ChannelError): void {
  bot.deps.logger.error(err.message, { channel: bot.name, code: err.code, status: err.status });
  try {
    bot.deps.onError?.(err);
  } catch {}
}

function chatMatches(bot: TelegramBot, chat: Message['chat']): boolean {
  const want = String(bot.cfg.chat_id);
  if (String(chat.id) === want) return true;
  return want.startsWith('@') && 'username' in chat && `@${chat.username ?? ''}` === want;
}

async function reply(bot: TelegramBot, chatId: number, text: string, replyTo?: number): Promise<void> {
  try {
    await bot.api.sendMessage(chatId, truncate(neutralizeControls(text, { multiline: true }), MESSAGE_LIMIT), {
      link_preview_options: { is_disabled: true },
      ...(replyTo !== undefined
        ? { reply_parameters: { message_id: replyTo, allow_sending_without_reply: true } }
        : {}),
    });
  } catch (err) {
    bot.deps.logger.warn('telegram: could not send a reply', {
      channel: bot.name,
      error: telegramError(bot, err, 'sendMessage').message,
    });
  }
}

/** A sender not on the allow list is ignored, and told so (rarely) where the bot may talk. */
async function refuseStranger(bot: TelegramBot, m: Message, inChat: boolean): Promise<void> {
  const from = m.from?.id;
  bot.deps.logger.warn('telegram: message from a sender not on the allow list ignored', {
    channel: bot.name,
    sender: from,
    chat: m.chat.id,
  });
  // Answer strangers only where the bot is meant to talk: its chat, or their private chat.
  if (from === undefined || !(inChat || m.chat.type === 'private')) return;
  const last = bot.refusedAt.get(from);
  const now = bot.deps.clock.now();
  if (last !== undefined && now - last < REFUSAL_QUIET_MS) return;
  if (bot.refusedAt.size > 1000) bot.refusedAt.clear();
  bot.refusedAt.set(from, now);
  await reply(bot, m.chat.id, REFUSAL_TEXT, m.message_id);
}

/** One message from the chat: checked, handed to the paste handler, answered. */
export async function handleMessage(bot: TelegramBot, m: Message, handler: PasteHandler): Promise<void> {
  const { logger, clock } = bot.deps;
  const from = m.from?.id;
  const inChat = chatMatches(bot, m.chat);
  if (from === undefined || !bot.allowed.has(from)) return refuseStranger(bot, m, inChat);
  if (!inChat) {
    logger.info('telegram: message from an allowed user in another chat ignored', {
      channel: bot.name,
      chat: m.chat.id,
    });
    return;
  }
  const text = messageText(m);
  if (text === '') return reply(bot, m.chat.id, 'Send the address from your browser as text.', m.message_id);
  let result;
  try {
    result = await handler({
      channel: bot.name,
      sender: String(from),
      text,
      chatId: String(m.chat.id),
      messageRef: String(m.message_id),
      receivedAt: clock.now(),
    });
  } catch (err) {
    logger.error('telegram: paste handler failed', { channel: bot.name, error: (err as Error).message });
    await reply(bot, m.chat.id, 'Something went wrong on our side while reading that; please try again.', m.message_id);
    return;
  }
  if (!result.deleteMessage) return reply(bot, m.chat.id, result.reply, m.message_id);
  try {
    await bot.api.deleteMessage(m.chat.id, m.message_id);
  } catch (err) {
    // In groups the bot may lack the right to delete; the code is consumed anyway.
    logger.info('telegram: could not delete the message that carried the code', {
      channel: bot.name,
      error: telegramError(bot, err, 'deleteMessage').message,
    });
  }
  await reply(bot, m.chat.id, result.reply);
}
