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
import type { EventSink, NewEvent } from '../core/types.js';
import type { OutboxPatch, OutboxRecord, Store } from '../store/types.js';
import type { RouteError } from './errors.js';
import { toRouteError } from './errors.js';
import type { Envelope } from './message.js';
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

/** A route passed over for this attempt, and why (reported in failover events and lastError). */
interface Skip {
  route: string;
  why: string;
}

/** One delivery attempt of one claimed row: what it carries and what the routes said so far. */
interface Attempt {
  rec: OutboxRecord;
  ctx: DeliveryContext;
  raw: Buffer;
  envelope: Envelope;
  meta: { id: string; messageId: string };
  /** The row's attempt count once this attempt is written. */
  attempts: number;
  /** Fields every log line and event of this attempt carries. */
  base: { mailbox: string; id: string; messageId: string };
  skipped: Skip[];
  lastTransient?: RouteError;
  maxRetryAfter?: number;
}

/** Deliver a row this process holds the lease on. Never throws for route failures. */
export async function deliverClaimed(rec: OutboxRecord, ctx: DeliveryContext): Promise<DeliveryOutcome> {
  const a = startAttempt(rec, ctx);
  for (const slot of ctx.slots) {
    await slot.sync();
    if (!slot.circuit.allows()) {
      a.skipped.push(circuitSkip(slot));
      continue;
    }
    let res: { providerId?: string };
    try {
      res = await slot.route.send(a.raw, a.envelope, a.meta);
    } catch (e) {
      const re = await noteRouteFailure(a, slot, e);
      if (re.kind === 'permanent') return markRefused(a, slot, re);
      continue;
    }
    await slot.recordSuccess();
    return markSent(a, slot, res);
  }
  return queueOrGiveUp(a);
}

function startAttempt(rec: OutboxRecord, ctx: DeliveryContext): Attempt {
  const { raw, envelope } = decodePayload(rec.payload);
  return {
    rec,
    ctx,
    raw,
    envelope,
    meta: { id: rec.id, messageId: rec.messageId },
    attempts: rec.attempts + 1,
    base: { mailbox: ctx.mailbox, id: rec.id, messageId: rec.messageId },
    skipped: [],
  };
}

/** Why a route whose circuit is not letting calls through was passed over. */
function circuitSkip(slot: RouteSlot<SendRoute>): Skip {
  const c = slot.circuit.snapshot();
  return {
    route: slot.id,
    why: c.state === 'open' ? `circuit open (${c.reason ?? 'auth'})` : 'waiting for Retry-After',
  };
}

/**
 * Log a route's failure and feed it to the route's circuit. A permanent refusal ends the
 * attempt (the caller marks the row failed); anything else passes over to the next route,
 * remembering a transient error's Retry-After for the backoff.
 */
async function noteRouteFailure(a: Attempt, slot: RouteSlot<SendRoute>, e: unknown): Promise<RouteError> {
  const re = toRouteError(slot.id, e);
  a.ctx.logger.warn('mail route failed', { ...a.base, route: slot.id, kind: re.kind, error: re.message });
  await slot.recordFailure(re);
  if (re.kind === 'permanent') return re;
  if (re.kind === 'transient') {
    a.lastTransient = re;
    if (re.retryAfterMs !== undefined) a.maxRetryAfter = Math.max(a.maxRetryAfter ?? 0, re.retryAfterMs);
  }
  a.skipped.push({ route: slot.id, why: `${re.kind}: ${re.message}` });
  return re;
}

/**
 * Write the row's outcome and its events: `onOutcome` first, then the update and the events
 * are issued together (one commit group) before either is awaited.
 */
function issueOutcome(
  a: Attempt,
  patch: OutboxPatch,
  events: NewEvent[],
): { updating: Promise<OutboxRecord | null>; emitting: Promise<void>[] } {
  a.ctx.onOutcome?.();
  const updating = a.ctx.store.updateMessage(a.rec.id, patch, { owner: a.ctx.owner });
  const emitting = events.map((e) => emitSafe(a.ctx.events, a.ctx.logger, e));
  return { updating, emitting };
}

/** A route refused the message for good: the row is failed, with a `mail_failed` event. */
async function markRefused(a: Attempt, slot: RouteSlot<SendRoute>, re: RouteError): Promise<DeliveryOutcome> {
  const { updating, emitting } = issueOutcome(
    a,
    { status: 'failed', attempts: a.attempts, route: slot.id, lastError: re.message },
    [
      {
        type: 'mail_failed',
        connection: slot.route.connection ?? null,
        message: `Mail ${a.rec.messageId} from mailbox "${a.ctx.mailbox}" was refused: ${re.message}`,
        data: { ...a.base, route: slot.id, error: re.message },
      },
    ],
  );
  await updating;
  await Promise.all(emitting);
  return { status: 'failed', route: slot.id, error: re.message };
}

/** A route accepted the message: the row is sent, with `mail_sent` (and `mail_failover` if routes were passed over). */
async function markSent(
  a: Attempt,
  slot: RouteSlot<SendRoute>,
  res: { providerId?: string },
): Promise<DeliveryOutcome> {
  const now = a.ctx.clock.now();
  const { updating, emitting } = issueOutcome(
    a,
    { status: 'sent', attempts: a.attempts, route: slot.id, lastError: null, sentAt: now },
    [...failoverEvents(a, slot), sentEvent(a, slot, res)],
  );
  const updated = await updating;
  if (!updated) {
    // Our lease ran out while the provider was answering: someone may send it again (same Message-ID).
    a.ctx.logger.warn('outbox lease lost before marking sent', { ...a.base, route: slot.id });
  }
  await Promise.all(emitting);
  return { status: 'sent', route: slot.id };
}

/** `mail_failover` when the message went out on a route other than the first. */
function failoverEvents(a: Attempt, slot: RouteSlot<SendRoute>): NewEvent[] {
  if (a.skipped.length === 0) return [];
  const from = a.skipped.map((s) => s.route);
  return [
    {
      type: 'mail_failover',
      connection: slot.route.connection ?? null,
      message: `Mail ${a.rec.messageId} from mailbox "${a.ctx.mailbox}" went out via ${slot.id} instead of ${from.join(', ')}`,
      data: { ...a.base, from, to: slot.id, why: a.skipped },
    },
  ];
}

function sentEvent(a: Attempt, slot: RouteSlot<SendRoute>, res: { providerId?: string }): NewEvent {
  return {
    type: 'mail_sent',
    connection: slot.route.connection ?? null,
    message: `Mail ${a.rec.messageId} from mailbox "${a.ctx.mailbox}" sent via ${slot.id}`,
    data: {
      ...a.base,
      route: slot.id,
      attempts: a.attempts,
      ...(res.providerId ? { providerId: res.providerId } : {}),
    },
  };
}

/** Nothing accepted it: stay queued with backoff, or give up when too old (or no route exists). */
async function queueOrGiveUp(a: Attempt): Promise<DeliveryOutcome> {
  const { ctx, rec } = a;
  const now = ctx.clock.now();
  const why = a.skipped.map((s) => `${s.route}: ${s.why}`).join('; ') || 'no send routes configured';
  const lastRoute = a.lastTransient?.route ?? a.skipped.at(-1)?.route ?? null;
  if (now - rec.createdAt >= ctx.retry.maxAgeMs || ctx.slots.length === 0) return giveUp(a, why, lastRoute);
  const delay = retryDelayFor(a);
  const { updating } = issueOutcome(
    a,
    { status: 'pending', attempts: a.attempts, nextAttemptAt: now + delay, route: lastRoute, lastError: why },
    [],
  );
  await updating;
  ctx.logger.info('mail queued for retry', { ...a.base, attempts: a.attempts, retryInMs: delay });
  return { status: 'queued', error: why };
}

/**
 * The backed-off wait before the next attempt, shortened while a send route's connection
 * awaits a human (never below the provider's Retry-After).
 */
function retryDelayFor(a: Attempt): number {
  const { retry, slots } = a.ctx;
  const backoff = retryDelayMs(a.attempts, a.maxRetryAfter, retry);
  return slots.some((s) => s.awaitingHuman)
    ? Math.min(backoff, Math.max(retry.awaitingHumanMaxMs ?? 30_000, a.maxRetryAfter ?? 0))
    : backoff;
}

/** The message is too old (or has no route): the row is failed, with a `mail_failed` event. */
async function giveUp(a: Attempt, why: string, lastRoute: string | null): Promise<DeliveryOutcome> {
  const error = `gave up after ${a.attempts} attempts: ${why}`;
  const { updating, emitting } = issueOutcome(
    a,
    { status: 'failed', attempts: a.attempts, route: lastRoute, lastError: error },
    [
      {
        type: 'mail_failed',
        connection: null,
        message: `Mail ${a.rec.messageId} from mailbox "${a.ctx.mailbox}" could not be delivered: ${error}`,
        data: { ...a.base, error },
      },
    ],
  );
  await updating;
  await Promise.all(emitting);
  return { status: 'failed', error };
}
