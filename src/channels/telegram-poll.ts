/**
 * The long-polling `getUpdates` loop of a Telegram bot: a paste reaches the handler within
 * milliseconds of arriving at Telegram (long poll, never interval polling).
 *
 * Only one process may poll a bot: a second concurrent `getUpdates` gets 409 Conflict. This
 * loop reports that once, stays passive and retries after a long pause instead of fighting;
 * with a leader lease it polls only while holding the lease.
 *
 * @see https://core.telegram.org/bots/api#getupdates
 * @see https://grammy.dev/advanced/flood (429 and retry_after)
 */
import type { Api } from 'grammy/web';
import { backoffMs } from '../core/http-policy.js';
import { ChannelError } from './errors.js';
import { handleMessage, reportFailure, telegramError, type TelegramBot } from './telegram-bot.js';
import { readUpdate } from './telegram-update.js';
import type { PasteHandler } from './types.js';

export const CONFLICT_TEXT = 'another process is polling this bot; this one stays passive';

/** How long to stay passive after a 409 before trying again. */
const CONFLICT_PAUSE_MS = 60_000;
/** A wrong token or a deleted bot will not fix itself soon. */
const AUTH_FAILURE_PAUSE_MS = 300_000;
const BACKOFF_BASE_MS = 1_000;
const BACKOFF_MAX_MS = 60_000;

/** What the loop remembers between polls. */
interface PollState {
  offset: number | undefined;
  failures: number;
  inConflict: boolean;
}

export async function pollLoop(bot: TelegramBot, handler: PasteHandler, signal: AbortSignal): Promise<void> {
  const s: PollState = { offset: undefined, failures: 0, inConflict: false };
  const pause = (ms: number): Promise<void> => bot.deps.clock.sleep(ms, signal).catch(() => undefined);
  while (!signal.aborted) {
    if (!(await holdsLeadership(bot))) {
      bot.state = 'passive';
      await pause(bot.leaderRetryMs);
      continue;
    }
    if (!s.inConflict) bot.state = 'polling';
    try {
      await pollOnce(bot, s, handler, signal);
    } catch (err) {
      if (signal.aborted) break;
      await pause(afterFailure(bot, s, telegramError(bot, err, 'getUpdates')));
    }
  }
}

/** Without a leader lease every process polls; with one, only its holder. */
async function holdsLeadership(bot: TelegramBot): Promise<boolean> {
  if (!bot.deps.leader) return true;
  let held = false;
  try {
    held = await bot.deps.leader.acquire();
  } catch (err) {
    bot.deps.logger.warn('telegram: leader lease check failed', { channel: bot.name, error: (err as Error).message });
  }
  bot.holdingLease = held;
  return held;
}

/** One long poll; its messages are queued for handling, in order, off the loop. */
async function pollOnce(bot: TelegramBot, s: PollState, handler: PasteHandler, signal: AbortSignal): Promise<void> {
  const { logger } = bot.deps;
  const updates = await bot.pollApi.getUpdates(
    {
      ...(s.offset !== undefined ? { offset: s.offset } : {}),
      timeout: bot.pollTimeoutS,
      allowed_updates: ['message'],
    },
    // grammY's types name the abort-controller shim; its web build uses the global AbortSignal.
    signal as unknown as Parameters<Api['getUpdates']>[1],
  );
  s.failures = 0;
  if (s.inConflict) {
    s.inConflict = false;
    logger.info('telegram: polling resumed; no other poller is active now', { channel: bot.name });
  }
  bot.state = 'polling';
  if (!Array.isArray(updates))
    throw new ChannelError(bot.name, 'Telegram getUpdates answered without a list of updates', { transient: true });
  for (const raw of updates as unknown[]) {
    // Checked, not trusted: a malformed update is skipped, and acknowledged with the rest.
    const u = readUpdate(raw);
    if (u.updateId !== null) s.offset = Math.max(s.offset ?? 0, u.updateId + 1); // acknowledged by the next getUpdates
    if (u.malformed) {
      logger.warn('telegram: malformed update ignored', { channel: bot.name, update: u.updateId, reason: u.malformed });
      continue;
    }
    const m = u.message;
    if (!m) continue;
    // Handled in order, off the poll loop: the next long poll starts at once.
    bot.queue = bot.queue
      .then(() => handleMessage(bot, m, handler))
      .catch((err: unknown) => logger.error('telegram: message handling failed', { error: String(err) }));
  }
}

/** Classify a failed poll, report what a human must know, and return how long to pause. */
function afterFailure(bot: TelegramBot, s: PollState, e: ChannelError): number {
  const { logger } = bot.deps;
  if (e.status === 409) {
    bot.state = 'passive';
    if (!s.inConflict) {
      s.inConflict = true;
      const why = /webhook/i.test(e.message)
        ? 'a webhook is set for this bot, so getUpdates cannot be used (remove the webhook or the other integration)'
        : CONFLICT_TEXT;
      const message = `${why}; retrying in ${CONFLICT_PAUSE_MS / 1000}s (Telegram 409 Conflict)`;
      reportFailure(bot, new ChannelError(bot.name, message, { status: 409, transient: false }));
    }
    return CONFLICT_PAUSE_MS;
  }
  bot.state = 'backoff';
  if (e.status === 429) {
    const wait = e.retryAfterMs ?? 5_000;
    logger.warn('telegram: rate limited; waiting as told', { channel: bot.name, retryAfterMs: wait });
    return wait;
  }
  if (e.status === 401 || e.status === 404) {
    const message = `Telegram rejected the bot token (${e.status}); check bot_token`;
    reportFailure(bot, new ChannelError(bot.name, message, { status: e.status }));
    return AUTH_FAILURE_PAUSE_MS;
  }
  s.failures++;
  const wait = Math.round(
    backoffMs({ attempt: s.failures, baseMs: BACKOFF_BASE_MS, capMs: BACKOFF_MAX_MS, random: bot.random() }),
  );
  logger.warn('telegram: getUpdates failed; backing off', { channel: bot.name, error: e.message, waitMs: wait });
  return wait;
}
