/**
 * Telegram: the two-way channel. Sends links with the Bot API (telegram-format.ts renders them)
 * and receives the human's paste through a long-polling `getUpdates` loop (telegram-poll.ts);
 * telegram-bot.ts holds the bot's clients and handles each message.
 *
 * @see https://core.telegram.org/bots/api#getupdates
 */
import { ConflictError } from '../core/errors.js';
import {
  reportFailure,
  telegramBot,
  telegramError,
  type TelegramBot,
  type TelegramConfig,
  type TelegramListenerState,
} from './telegram-bot.js';
import { renderTelegramHtml } from './telegram-format.js';
import { pollLoop } from './telegram-poll.js';
import type { Channel, ChannelDeps, ChannelMessage, PasteHandler } from './types.js';

export { REFUSAL_TEXT, type TelegramListenerState } from './telegram-bot.js';
export { messageText, redactBotToken, renderTelegramHtml } from './telegram-format.js';
export { CONFLICT_TEXT } from './telegram-poll.js';

/** How long stop() waits for a paste already being handled. */
const STOP_DRAIN_MS = 5_000;

export interface TelegramChannel extends Channel {
  readonly twoWay: true;
  start(handler: PasteHandler, opts?: { signal?: AbortSignal }): Promise<void>;
  stop(): Promise<void>;
  readonly listening: boolean;
  /** `passive`: another process polls (409) or holds the leader lease. */
  readonly state: TelegramListenerState;
}

export function createTelegramChannel(name: string, cfg: TelegramConfig, deps: ChannelDeps): TelegramChannel {
  const bot = telegramBot(name, cfg, deps);
  let controller: AbortController | null = null;
  let loop: Promise<void> | null = null;
  return {
    name,
    type: 'telegram',
    twoWay: true,
    get listening() {
      return bot.state === 'polling';
    },
    get state() {
      return bot.state;
    },

    /** getMe proves the bot token, getChat that the bot can reach chat_id; nothing is sent. */
    async check() {
      try {
        await bot.api.getMe();
      } catch (err) {
        throw telegramError(bot, err, 'getMe');
      }
      try {
        await bot.api.getChat(cfg.chat_id);
      } catch (err) {
        throw telegramError(bot, err, 'getChat');
      }
    },

    async send(msg: ChannelMessage) {
      try {
        const sent = await bot.api.sendMessage(
          cfg.chat_id,
          renderTelegramHtml(msg, deps.clock.now(), { twoWay: true }),
          {
            parse_mode: 'HTML',
            link_preview_options: { is_disabled: true },
          },
        );
        return { messageRef: String(sent.message_id) };
      } catch (err) {
        throw telegramError(bot, err, 'sendMessage');
      }
    },

    async start(handler: PasteHandler, opts: { signal?: AbortSignal } = {}) {
      if (loop && controller?.signal.aborted) await loop; // winding down after the caller's abort
      if (loop) throw new ConflictError(`channel ${name}: already listening`);
      const ctl = new AbortController();
      controller = ctl;
      opts.signal?.addEventListener('abort', () => ctl.abort(), { once: true });
      if (opts.signal?.aborted) ctl.abort();
      bot.state = deps.leader ? 'passive' : 'polling';
      const running: Promise<void> = pollLoop(bot, handler, ctl.signal)
        .catch((err: unknown) => reportFailure(bot, telegramError(bot, err, 'getUpdates')))
        .finally(() => {
          bot.state = 'stopped';
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
      await windDown(bot);
    },
  };
}

/**
 * After the poll loop ended: let a paste being handled finish (its tokens must be stored), but
 * never hang shutdown; then hand the leader lease back.
 */
async function windDown(bot: TelegramBot): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([bot.queue, new Promise<void>((r) => (timer = setTimeout(r, STOP_DRAIN_MS).unref()))]);
  clearTimeout(timer);
  if (bot.holdingLease && bot.deps.leader) {
    bot.holdingLease = false;
    await bot.deps.leader.release().catch(() => undefined);
  }
  bot.state = 'stopped';
}
