/**
 * One configured mailbox: `send` (persist sealed in the outbox, then try to deliver at once)
 * and `list` (read with fallback across read routes).
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import { ReauthRequiredError, TransientError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { EventSink } from '../core/types.js';
import type { MailboxConfig } from '../config/schema.js';
import type { OutboxRecord, Store } from '../store/types.js';
import type { RouteError } from './errors.js';
import { toRouteError } from './errors.js';
import type { MailMessage, PreparedOutgoing, RawOutgoing } from './message.js';
import { encodePayload, prepareOutgoing, prepareRaw } from './message.js';
import type { DeliveryOutcome, RetryPolicy } from './outbox.js';
import { deliverClaimed } from './outbox.js';
import type { RouteHealth, RouteSlot } from './route-slot.js';
import { emitSafe } from './route-slot.js';
import type { ListQuery, NormalisedMessage, ReadRoute, SendRoute } from './routes/types.js';

export interface SendResult {
  /** Outbox id. */
  id: string;
  /** Stable RFC 5322 Message-ID, identical on every retry and route. */
  messageId: string;
  status: 'sent' | 'queued' | 'failed';
  route?: string;
  error?: string;
}

export interface ListResult {
  route: string;
  messages: NormalisedMessage[];
  /** Read routes tried (or skipped) before `route` answered. */
  fellBackFrom?: string[];
}

export interface Mailbox {
  readonly name: string;
  readonly address: string;
  send(msg: MailMessage): Promise<SendResult>;
  /** Queue a client-composed RFC 5322 message with its envelope (see MailboxImpl.sendRaw). */
  sendRaw(msg: RawOutgoing): Promise<SendResult>;
  list(q?: ListQuery): Promise<ListResult>;
}

export interface MailboxDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  events: EventSink;
  owner: string;
  leaseMs: number;
  retry: RetryPolicy;
  /** Runs deliveries that must not hold up the caller (tracked so `stop()` can wait). */
  background: (work: Promise<unknown>) => void;
  /** Deliveries of claimed rows run at once, at most (default 4). */
  deliveryConcurrency?: number;
  /**
   * True while no delivery loop runs in this process (a library caller): a send then also
   * picks up other due rows of its mailbox (retries, rows a crashed sender left) in the
   * background, at most once a second.
   */
  sweepOnSend?: () => boolean;
}

/** A delivery still running after this long (ms) has its `mail_queued` event written without waiting for it. */
const QUEUED_EVENT_AFTER_MS = 200;

/** Least time between two sweeps started by sends. */
const SWEEP_EVERY_MS = 1000;

/** Run `fn` over `items`, at most `limit` at a time; results in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}

export class MailboxImpl implements Mailbox {
  readonly address: string;
  /**
   * Deliveries running in this process, by outbox id: a send with the same idempotency key
   * waits for that outcome instead of answering "queued" for a message going out right now.
   */
  private readonly inFlight = new Map<string, Promise<DeliveryOutcome>>();
  private sweeping = false;
  private lastSweep = -Infinity;
  constructor(
    readonly name: string,
    private readonly cfg: MailboxConfig,
    readonly sendSlots: RouteSlot<SendRoute>[],
    readonly readSlots: RouteSlot<ReadRoute>[],
    private readonly d: MailboxDeps,
  ) {
    this.address = cfg.address;
  }

  async send(msg: MailMessage): Promise<SendResult> {
    const now = this.d.clock.now();
    // Validation and composition first: a bad message throws MailInputError and stores nothing.
    const prepared = await prepareOutgoing(msg, {
      mailboxAddress: this.cfg.address,
      maxBytes: this.cfg.max_message_bytes,
      now,
    });
    const { record, settled, created, recordQueued } = await this.enqueue(prepared, now);
    this.sweepDue();
    if (settled) return settled;
    if (!created) return this.deliverQueued(record);
    // Born claimed by us: deliver at once. `mail_queued` is written with the outcome (one
    // commit), or sooner when the delivery takes a while; either way before this returns.
    const timer = setTimeout(recordQueued, QUEUED_EVENT_AFTER_MS);
    try {
      return this.result(record, await this.deliver(record, recordQueued));
    } finally {
      clearTimeout(timer);
      await recordQueued();
    }
  }

  /**
   * Queue a message its client composed (raw RFC 5322 bytes plus the SMTP envelope): it is
   * stored sealed before this resolves, then delivered in the background through the same
   * routes, circuits and retries as {@link send}. Resolves `queued` (or, for a resend of a
   * message already settled, that first outcome). Throws MailInputError; stores nothing then.
   */
  async sendRaw(msg: RawOutgoing): Promise<SendResult> {
    const now = this.d.clock.now();
    const prepared = prepareRaw(msg, {
      mailboxAddress: this.cfg.address,
      maxBytes: this.cfg.max_message_bytes,
      now,
    });
    const { record, settled, created, recordQueued } = await this.enqueue(prepared, now);
    this.sweepDue();
    if (settled) return settled;
    const queued = recordQueued();
    this.d.background(created ? this.deliver(record) : this.deliverQueued(record));
    await queued;
    return this.result(record, { status: 'queued' });
  }

  /**
   * Store the prepared message (sealed), born claimed by this process so its delivery can start
   * at once. `settled` when the same idempotency key already finished. `recordQueued` writes the
   * `mail_queued` event of a new row (once, however often called; a no-op for an existing row).
   */
  private async enqueue(
    prepared: PreparedOutgoing,
    now: number,
  ): Promise<{ record: OutboxRecord; created: boolean; settled?: SendResult; recordQueued: () => Promise<void> }> {
    const { record, created } = await this.d.store.enqueueMessage(
      {
        id: randomUUID(),
        mailbox: this.name,
        idempotencyKey: prepared.idempotencyKey,
        messageId: prepared.messageId,
        payload: encodePayload(prepared),
        createdAt: now,
      },
      now,
      { claim: { owner: this.d.owner, leaseMs: this.d.leaseMs } },
    );
    if (created) {
      let queued: Promise<void> | undefined;
      const recordQueued = (): Promise<void> =>
        (queued ??= emitSafe(this.d.events, this.d.logger, {
          type: 'mail_queued',
          connection: null,
          message: `Mail ${record.messageId} queued in mailbox "${this.name}"`,
          data: { mailbox: this.name, id: record.id, messageId: record.messageId },
        }));
      return { record, created, recordQueued };
    }
    const recordQueued = (): Promise<void> => Promise.resolve();
    if (record.status === 'sent' || record.status === 'failed') {
      // Same idempotency key: report the first send's outcome, never send a second copy.
      return {
        record,
        created,
        recordQueued,
        settled: this.result(record, {
          status: record.status,
          ...(record.lastError ? { error: record.lastError } : {}),
        }),
      };
    }
    return { record, created, recordQueued };
  }

  /**
   * Deliver a row that already existed (same idempotency key): wait for a delivery
   * of it already running here, or claim it (it alone) and deliver it now.
   */
  private async deliverQueued(record: OutboxRecord): Promise<SendResult> {
    const running = this.inFlight.get(record.id);
    if (running) return this.result(record, await running);
    const work = this.claimAndDeliver(record);
    void this.track(
      record.id,
      work.then((w) => w.outcome),
    );
    const { rec, outcome } = await work;
    return this.result(rec, outcome);
  }

  /** Claim this row (unless another process holds it or it is backing off) and deliver it now. */
  private async claimAndDeliver(record: OutboxRecord): Promise<{ rec: OutboxRecord; outcome: DeliveryOutcome }> {
    const [mine] = await this.d.store.claimMessages({
      owner: this.d.owner,
      now: this.d.clock.now(),
      leaseMs: this.d.leaseMs,
      limit: 1,
      mailbox: this.name,
      id: record.id,
    });
    if (!mine) {
      // Another process holds it (or it is backing off): report where it stands now; if not
      // finished, it goes out from the outbox.
      const now = (await this.d.store.getMessage(record.id)) ?? record;
      if (now.status === 'sent' || now.status === 'failed')
        return { rec: now, outcome: { status: now.status, ...(now.lastError ? { error: now.lastError } : {}) } };
      return { rec: now, outcome: { status: 'queued' } };
    }
    return { rec: mine, outcome: await this.deliverNow(mine) };
  }

  /** Remember a delivery in progress until it settles (the latest one per id wins). */
  private track(id: string, p: Promise<DeliveryOutcome>): Promise<DeliveryOutcome> {
    this.inFlight.set(id, p);
    p.finally(() => {
      if (this.inFlight.get(id) === p) this.inFlight.delete(id);
    }).catch(() => undefined);
    return p;
  }

  /** Deliver rows this process has claimed, several at once (bounded). */
  deliverMany(recs: OutboxRecord[]): Promise<DeliveryOutcome[]> {
    return mapLimit(recs, this.d.deliveryConcurrency ?? 4, (r) => this.deliver(r));
  }

  /**
   * Without a delivery loop in this process, claim this mailbox's other due rows and deliver
   * them in the background (single-flight, at most once per {@link SWEEP_EVERY_MS}).
   */
  private sweepDue(): void {
    if (!this.d.sweepOnSend?.() || this.sweeping) return;
    const now = this.d.clock.now();
    if (now - this.lastSweep < SWEEP_EVERY_MS) return;
    this.sweeping = true;
    this.lastSweep = now;
    const work = (async () => {
      try {
        const claimed = await this.d.store.claimMessages({
          owner: this.d.owner,
          now,
          leaseMs: this.d.leaseMs,
          limit: 25,
          mailbox: this.name,
        });
        await this.deliverMany(claimed);
      } finally {
        this.sweeping = false;
      }
    })();
    this.d.background(work);
  }

  /** Deliver a row this process holds; `onOutcome` runs just before the outcome is written. */
  deliver(rec: OutboxRecord, onOutcome?: () => unknown): Promise<DeliveryOutcome> {
    return this.track(rec.id, this.deliverNow(rec, onOutcome));
  }

  private deliverNow(rec: OutboxRecord, onOutcome?: () => unknown): Promise<DeliveryOutcome> {
    return deliverClaimed(rec, {
      ...(onOutcome ? { onOutcome } : {}),
      mailbox: this.name,
      owner: this.d.owner,
      store: this.d.store,
      clock: this.d.clock,
      logger: this.d.logger,
      events: this.d.events,
      retry: this.d.retry,
      slots: this.sendSlots,
    });
  }

  async list(q: ListQuery = {}): Promise<ListResult> {
    const skipped: { route: string; why: string }[] = [];
    const failures: RouteError[] = [];
    for (const slot of this.readSlots) {
      await slot.sync();
      if (!slot.circuit.allows()) {
        skipped.push({ route: slot.id, why: `circuit open (${slot.circuit.snapshot().reason ?? 'auth'})` });
        continue;
      }
      try {
        const messages = await slot.route.list(q);
        await slot.recordSuccess();
        if (skipped.length > 0) {
          await emitSafe(this.d.events, this.d.logger, {
            type: 'mail_failover',
            connection: slot.route.connection ?? null,
            message: `Mailbox "${this.name}" read via ${slot.id} instead of ${skipped.map((s) => s.route).join(', ')}`,
            data: {
              mailbox: this.name,
              direction: 'read',
              from: skipped.map((s) => s.route),
              to: slot.id,
              why: skipped,
            },
          });
          return { route: slot.id, messages, fellBackFrom: skipped.map((s) => s.route) };
        }
        return { route: slot.id, messages };
      } catch (e) {
        const re = toRouteError(slot.id, e);
        this.d.logger.warn('mail read route failed', {
          mailbox: this.name,
          route: slot.id,
          kind: re.kind,
          error: re.message,
        });
        await slot.recordFailure(re);
        failures.push(re);
        skipped.push({ route: slot.id, why: `${re.kind}: ${re.message}` });
      }
    }
    const summary = skipped.map((s) => `${s.route}: ${s.why}`).join('; ') || 'no read routes configured';
    const reauth = failures.map((f) => f.cause).find((c): c is ReauthRequiredError => c instanceof ReauthRequiredError);
    if (reauth && failures.every((f) => f.kind !== 'transient')) throw reauth;
    throw new TransientError(`Mailbox "${this.name}": no read route answered (${summary})`);
  }

  health(): RouteHealth[] {
    return [...this.sendSlots, ...this.readSlots].map((s) => s.health());
  }

  private result(rec: OutboxRecord, o: DeliveryOutcome): SendResult {
    const r: SendResult = { id: rec.id, messageId: rec.messageId, status: o.status };
    const route = o.route ?? (o.status === 'sent' ? (rec.route ?? undefined) : undefined);
    if (route) r.route = route;
    if (o.error) r.error = o.error;
    return r;
  }
}
