/**
 * Delivery of one claimed outbox row through a mailbox's send routes.
 *
 * Delivery is at-least-once: a row is claimed with a lease (`sending`, leaseOwner, leaseUntil)
 * before any route is called, and marked `sent` only after a route accepted it. If the
 * process dies between the provider accepting the message and the `sent` update, the lease
 * expires and another (or the restarted) process claims the row again and sends it again. The
 * duplicate carries the same Message-ID (assigned at enqueue, inside the stored MIME), so
 * receiving systems and humans can recognise it; the window is the few milliseconds between
 * the provider's answer and the store update.
 */
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { EventSink } from '../core/types.js';
import type { OutboxRecord, Store } from '../store/types.js';
import type { RouteError } from './errors.js';
import { toRouteError } from './errors.js';
import { decodePayload } from './message.js';
import type { RouteSlot } from './route-slot.js';
import { emitSafe } from './route-slot.js';
import type { SendRoute } from './routes/types.js';

export interface RetryPolicy {
  /** First retry delay (default 5 s); doubles per attempt. */
  backoffBaseMs: number;
  /** Cap (default 15 min). */
  backoffMaxMs: number;
  /** Give up (status `failed`) when a message is older than this (default 3 days). */
  maxAgeMs: number;
  /** 0..1 source for jitter (default Math.random). */
  random: () => number;
  /**
   * Longest wait between attempts while a send route's connection awaits a human (default
   * 30 s), so a message goes out soon after the re-authorization instead of at the next
   * backed-off attempt.
   */
  awaitingHumanMaxMs?: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  backoffBaseMs: 5_000,
  backoffMaxMs: 15 * 60_000,
  maxAgeMs: 3 * 86_400_000,
  random: Math.random,
};

import { backoffMs } from '../core/http-policy.js';

/** Exponential backoff with up to +20% jitter, never shorter than the provider's Retry-After. */
export function retryDelayMs(attempts: number, retryAfterMs: number | undefined, p: RetryPolicy): number {
  const exp = backoffMs({
    attempt: attempts,
    baseMs: p.backoffBaseMs,
    capMs: p.backoffMaxMs,
    random: p.random(),
    jitter: [1, 1.2],
  });
  return Math.max(Math.round(exp), retryAfterMs ?? 0);
}

export interface DeliveryContext {
  mailbox: string;
  owner: string;
  store: Store;
  clock: Clock;
  logger: Logger;
  events: EventSink;
  retry: RetryPolicy;
  slots: RouteSlot<SendRoute>[];
  /** Called just before the outcome (sent, failed or queued for retry) is written. */
  onOutcome?: () => unknown;
}

export interface DeliveryOutcome {
  status: 'sent' | 'queued' | 'failed';
  route?: string;
  error?: string;
}

/** Deliver a row this process holds the lease on. Never throws for route failures. */
export async function deliverClaimed(rec: OutboxRecord, ctx: DeliveryContext): Promise<DeliveryOutcome> {
  const { raw, envelope } = decodePayload(rec.payload);
  const meta = { id: rec.id, messageId: rec.messageId };
  const attempts = rec.attempts + 1;
  const skipped: { route: string; why: string }[] = [];
  let lastTransient: RouteError | undefined;
  let maxRetryAfter: number | undefined;
  const base = { mailbox: ctx.mailbox, id: rec.id, messageId: rec.messageId };

  for (const slot of ctx.slots) {
    await slot.sync();
    if (!slot.circuit.allows()) {
      const c = slot.circuit.snapshot();
      skipped.push({
        route: slot.id,
        why: c.state === 'open' ? `circuit open (${c.reason ?? 'auth'})` : 'waiting for Retry-After',
      });
      continue;
    }
    let res: { providerId?: string };
    try {
      res = await slot.route.send(raw, envelope, meta);
    } catch (e) {
      const re = toRouteError(slot.id, e);
      ctx.logger.warn('mail route failed', { ...base, route: slot.id, kind: re.kind, error: re.message });
      await slot.recordFailure(re);
      if (re.kind === 'permanent') {
        // The update and its event are issued together (one commit group) before either is awaited.
        ctx.onOutcome?.();
        const updating = ctx.store.updateMessage(
          rec.id,
          { status: 'failed', attempts, route: slot.id, lastError: re.message },
          { owner: ctx.owner },
        );
        const event = emitSafe(ctx.events, ctx.logger, {
          type: 'mail_failed',
          connection: slot.route.connection ?? null,
          message: `Mail ${rec.messageId} from mailbox "${ctx.mailbox}" was refused: ${re.message}`,
          data: { ...base, route: slot.id, error: re.message },
        });
        await updating;
        await event;
        return { status: 'failed', route: slot.id, error: re.message };
      }
      if (re.kind === 'transient') {
        lastTransient = re;
        if (re.retryAfterMs !== undefined) maxRetryAfter = Math.max(maxRetryAfter ?? 0, re.retryAfterMs);
      }
      skipped.push({ route: slot.id, why: `${re.kind}: ${re.message}` });
      continue;
    }
    await slot.recordSuccess();
    const now = ctx.clock.now();
    // The `sent` update and its events are issued together, so they share one commit.
    ctx.onOutcome?.();
    const updating = ctx.store.updateMessage(
      rec.id,
      { status: 'sent', attempts, route: slot.id, lastError: null, sentAt: now },
      { owner: ctx.owner },
    );
    const events: Promise<void>[] = [];
    if (skipped.length > 0) {
      events.push(
        emitSafe(ctx.events, ctx.logger, {
          type: 'mail_failover',
          connection: slot.route.connection ?? null,
          message: `Mail ${rec.messageId} from mailbox "${ctx.mailbox}" went out via ${slot.id} instead of ${skipped.map((s) => s.route).join(', ')}`,
          data: { ...base, from: skipped.map((s) => s.route), to: slot.id, why: skipped },
        }),
      );
    }
    events.push(
      emitSafe(ctx.events, ctx.logger, {
        type: 'mail_sent',
        connection: slot.route.connection ?? null,
        message: `Mail ${rec.messageId} from mailbox "${ctx.mailbox}" sent via ${slot.id}`,
        data: { ...base, route: slot.id, attempts, ...(res.providerId ? { providerId: res.providerId } : {}) },
      }),
    );
    const updated = await updating;
    if (!updated) {
      // Our lease ran out while the provider was answering: someone may send it again (same Message-ID).
      ctx.logger.warn('outbox lease lost before marking sent', { ...base, route: slot.id });
    }
    await Promise.all(events);
    return { status: 'sent', route: slot.id };
  }

  // Nothing accepted it: stay queued with backoff, or give up when too old.
  const now = ctx.clock.now();
  const why = skipped.map((s) => `${s.route}: ${s.why}`).join('; ') || 'no send routes configured';
  const lastRoute = lastTransient?.route ?? skipped.at(-1)?.route ?? null;
  if (now - rec.createdAt >= ctx.retry.maxAgeMs || ctx.slots.length === 0) {
    const error = `gave up after ${attempts} attempts: ${why}`;
    ctx.onOutcome?.();
    const updating = ctx.store.updateMessage(
      rec.id,
      { status: 'failed', attempts, route: lastRoute, lastError: error },
      { owner: ctx.owner },
    );
    const event = emitSafe(ctx.events, ctx.logger, {
      type: 'mail_failed',
      connection: null,
      message: `Mail ${rec.messageId} from mailbox "${ctx.mailbox}" could not be delivered: ${error}`,
      data: { ...base, error },
    });
    await updating;
    await event;
    return { status: 'failed', error };
  }
  const backoff = retryDelayMs(attempts, maxRetryAfter, ctx.retry);
  const delay = ctx.slots.some((s) => s.awaitingHuman)
    ? Math.min(backoff, Math.max(ctx.retry.awaitingHumanMaxMs ?? 30_000, maxRetryAfter ?? 0))
    : backoff;
  ctx.onOutcome?.();
  await ctx.store.updateMessage(
    rec.id,
    { status: 'pending', attempts, nextAttemptAt: now + delay, route: lastRoute, lastError: why },
    { owner: ctx.owner },
  );
  ctx.logger.info('mail queued for retry', { ...base, attempts, retryInMs: delay });
  return { status: 'queued', error: why };
}
