/**
 * The mail service: builds every configured mailbox with its routes and circuits, runs the
 * background delivery loop (claims due outbox rows under a lease) and scheduled health probes.
 */
import type { Clock } from '../core/clock.js';
import { NotFoundError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { EventSink, TokenSource } from '../core/types.js';
import type { Config } from '../config/schema.js';
import type { OutboxRecord, Store } from '../store/types.js';
import type { CircuitOptions } from './circuit.js';
import { toRouteError } from './errors.js';
import type { Mailbox } from './mailbox.js';
import { MailboxImpl, mapLimit } from './mailbox.js';
import type { RetryPolicy } from './outbox.js';
import { DEFAULT_RETRY } from './outbox.js';
import type { RouteHealth } from './route-slot.js';
import { RouteSlot, emitSafe } from './route-slot.js';
import { buildReadRoutes, buildSendRoutes } from './routes/index.js';
import type { ReadRoute, SendRoute } from './routes/types.js';
import { outboundFetch } from '../core/proxy.js';

export interface MailServiceOptions {
  /** Outbox lease while a row is being delivered (default 5 min; longer than any route timeout). */
  leaseMs?: number;
  /** Delivery loop period (default 5 s). */
  pollIntervalMs?: number;
  /** Health probe period (default 5 min). */
  probeIntervalMs?: number;
  /** Rows claimed per loop iteration (default 20). */
  batchSize?: number;
  /** Claimed rows delivered at once, at most (default 4). */
  deliveryConcurrency?: number;
  retry?: Partial<RetryPolicy>;
  circuit?: CircuitOptions;
}

export interface MailServiceDeps {
  config: Pick<Config, 'mailboxes' | 'connections'>;
  store: Store;
  tokens: TokenSource;
  clock: Clock;
  logger: Logger;
  events: EventSink;
  /** Process id for outbox leases (unique per process, e.g. `host:pid:random`). */
  owner: string;
  fetch?: typeof fetch;
  options?: MailServiceOptions;
}

export interface MailboxStatus {
  name: string;
  address: string;
  routes: RouteHealth[];
  outbox: { pending: number; sending: number; sent: number; failed: number; oldestPendingAgeMs: number | null };
}

export interface MailService {
  mailbox(name: string): Mailbox;
  mailboxes(): string[];
  /** Start the background delivery loop and scheduled probes (probes once at start). */
  start(): void;
  /** Stop the loop, wait for in-flight deliveries, close route connections. */
  stop(): Promise<void>;
  /** Claim and deliver due outbox rows once; returns how many were sent. */
  deliverDue(): Promise<number>;
  probeAll(): Promise<RouteHealth[]>;
  status(): Promise<MailboxStatus[]>;
}

export function createMailService(deps: MailServiceDeps): MailService {
  const settings = resolveSettings(deps.options ?? {});
  const inflight = new Set<Promise<unknown>>();
  let abort: AbortController | null = null;
  /** The delivery loop, while started. */
  let loop: Promise<void> | null = null;
  const boxes = buildMailboxes(deps, settings, trackBackground(deps.logger, inflight), () => loop === null);

  return {
    mailbox: (name) => getMailbox(boxes, name),
    mailboxes: () => [...boxes.keys()],
    start() {
      if (loop) return;
      abort = new AbortController();
      loop = runLoop(abort.signal, deps, settings, boxes);
    },
    async stop() {
      abort?.abort();
      await loop;
      loop = null;
      abort = null;
      await Promise.allSettled([...inflight]);
      await closeRoutes(boxes);
    },
    deliverDue: () => deliverDue(deps, settings, boxes),
    probeAll: () => probeAll(deps, boxes),
    status: () => mailboxStatus(deps, boxes),
  };
}

/** The service's options with their defaults filled in. */
interface Settings {
  leaseMs: number;
  pollIntervalMs: number;
  probeIntervalMs: number;
  batchSize: number;
  deliveryConcurrency: number;
  retry: RetryPolicy;
  circuit: CircuitOptions | undefined;
}

function resolveSettings(opts: MailServiceOptions): Settings {
  return {
    leaseMs: opts.leaseMs ?? 5 * 60_000,
    pollIntervalMs: opts.pollIntervalMs ?? 5_000,
    probeIntervalMs: opts.probeIntervalMs ?? 5 * 60_000,
    batchSize: opts.batchSize ?? 20,
    deliveryConcurrency: opts.deliveryConcurrency ?? 4,
    retry: { ...DEFAULT_RETRY, ...opts.retry },
    circuit: opts.circuit,
  };
}

/** Runs work that must not hold up its caller; failures are logged, and `inflight` lets `stop()` wait. */
function trackBackground(logger: Logger, inflight: Set<Promise<unknown>>): (work: Promise<unknown>) => void {
  return (work) => {
    const p = work
      .catch((e: unknown) =>
        logger.error('background mail delivery failed', { error: e instanceof Error ? e.message : String(e) }),
      )
      .finally(() => inflight.delete(p));
    inflight.add(p);
  };
}

/** Every configured mailbox with its send and read routes, each behind its own circuit. */
function buildMailboxes(
  deps: MailServiceDeps,
  s: Settings,
  background: (work: Promise<unknown>) => void,
  sweepOnSend: () => boolean,
): Map<string, MailboxImpl> {
  const routeDeps = {
    config: deps.config,
    tokens: deps.tokens,
    clock: deps.clock,
    fetch: deps.fetch ?? outboundFetch,
  };
  const boxes = new Map<string, MailboxImpl>();
  for (const [name, cfg] of Object.entries(deps.config.mailboxes)) {
    const slotDeps = {
      mailbox: name,
      clock: deps.clock,
      tokens: deps.tokens,
      events: deps.events,
      logger: deps.logger,
      ...(s.circuit ? { circuit: s.circuit } : {}),
    };
    const send = buildSendRoutes(cfg, routeDeps).map((r) => new RouteSlot(r, 'send', slotDeps));
    const read = buildReadRoutes(cfg, routeDeps).map((r) => new RouteSlot(r, 'read', slotDeps));
    boxes.set(
      name,
      new MailboxImpl(name, cfg, send, read, {
        store: deps.store,
        clock: deps.clock,
        logger: deps.logger,
        events: deps.events,
        owner: deps.owner,
        leaseMs: s.leaseMs,
        retry: s.retry,
        background,
        deliveryConcurrency: s.deliveryConcurrency,
        sweepOnSend,
      }),
    );
  }
  return boxes;
}

function getMailbox(boxes: Map<string, MailboxImpl>, name: string): MailboxImpl {
  const b = boxes.get(name);
  if (!b) throw new NotFoundError(`No mailbox "${name}" in config (known: ${[...boxes.keys()].join(', ') || 'none'})`);
  return b;
}

/** Claim due outbox rows batch by batch and deliver them; returns how many were sent. */
async function deliverDue(deps: MailServiceDeps, s: Settings, boxes: Map<string, MailboxImpl>): Promise<number> {
  let sent = 0;
  for (;;) {
    const claimed = await deps.store.claimMessages({
      owner: deps.owner,
      now: deps.clock.now(),
      leaseMs: s.leaseMs,
      limit: s.batchSize,
    });
    // Claimed rows go out several at once, over the routes' connection pools.
    await mapLimit(claimed, s.deliveryConcurrency, async (rec) => {
      if (await deliverClaimedRow(deps, boxes, rec)) sent++;
    });
    if (claimed.length < s.batchSize) return sent;
  }
}

/** Deliver one claimed row through its mailbox (failing it if the mailbox is gone); true when sent. */
async function deliverClaimedRow(
  deps: MailServiceDeps,
  boxes: Map<string, MailboxImpl>,
  rec: OutboxRecord,
): Promise<boolean> {
  const box = boxes.get(rec.mailbox);
  if (!box) {
    await deps.store.updateMessage(
      rec.id,
      { status: 'failed', lastError: `mailbox "${rec.mailbox}" is no longer configured` },
      { owner: deps.owner },
    );
    return false;
  }
  const o = await box.deliver(rec);
  return o.status === 'sent';
}

/** Probe every route of every mailbox, one after another. */
async function probeAll(deps: MailServiceDeps, boxes: Map<string, MailboxImpl>): Promise<RouteHealth[]> {
  const out: RouteHealth[] = [];
  for (const box of boxes.values()) {
    for (const slot of [...box.sendSlots, ...box.readSlots]) out.push(await probeSlot(deps, box, slot));
  }
  return out;
}

/** Probe one route, feed the answer to its circuit, and report a failure as a `probe_failed` event. */
async function probeSlot(
  deps: MailServiceDeps,
  box: MailboxImpl,
  slot: RouteSlot<SendRoute> | RouteSlot<ReadRoute>,
): Promise<RouteHealth> {
  await slot.sync();
  if (slot.circuit.state === 'open' && slot.circuit.snapshot().reason?.startsWith('connection ')) {
    // No point asking the provider: the keeper already knows a human must act.
    slot.setProbe(false, { error: slot.circuit.snapshot().reason ?? 'connection needs re-authorization' });
    return slot.health();
  }
  try {
    const r = await slot.route.probe();
    slot.setProbe(true, r?.note ? { note: r.note } : {});
    await slot.recordSuccess();
  } catch (e) {
    const re = toRouteError(slot.id, e);
    slot.setProbe(false, { error: re.message });
    await slot.recordFailure(re);
    await emitSafe(deps.events, deps.logger, {
      type: 'probe_failed',
      connection: slot.route.connection ?? null,
      message: `Mailbox "${box.name}" ${slot.direction} route ${slot.id} probe failed (${re.kind}): ${re.message}`,
      data: { mailbox: box.name, route: slot.id, direction: slot.direction, kind: re.kind, error: re.message },
    });
  }
  return slot.health();
}

async function mailboxStatus(deps: MailServiceDeps, boxes: Map<string, MailboxImpl>): Promise<MailboxStatus[]> {
  const now = deps.clock.now();
  const out: MailboxStatus[] = [];
  for (const box of boxes.values()) {
    const s = await deps.store.outboxStats(box.name);
    out.push({
      name: box.name,
      address: box.address,
      routes: box.health(),
      outbox: {
        pending: s.pending,
        sending: s.sending,
        sent: s.sent,
        failed: s.failed,
        oldestPendingAgeMs: s.oldestPendingAt === null ? null : now - s.oldestPendingAt,
      },
    });
  }
  return out;
}

/** The background loop: probes every probe interval, delivers due rows every poll interval, until aborted. */
async function runLoop(
  signal: AbortSignal,
  deps: MailServiceDeps,
  s: Settings,
  boxes: Map<string, MailboxImpl>,
): Promise<void> {
  let nextProbe = 0;
  while (!signal.aborted) {
    if (deps.clock.now() >= nextProbe) {
      nextProbe = deps.clock.now() + s.probeIntervalMs;
      await probeAll(deps, boxes).catch((e: unknown) => deps.logger.error('mail probes failed', { error: String(e) }));
    }
    await deliverDue(deps, s, boxes).catch((e: unknown) =>
      deps.logger.error('mail delivery loop failed', { error: e instanceof Error ? e.message : String(e) }),
    );
    await deps.clock.sleep(s.pollIntervalMs, signal).catch(() => {});
  }
}

/** Close every route's connections (pools, IMAP sessions). */
async function closeRoutes(boxes: Map<string, MailboxImpl>): Promise<void> {
  for (const box of boxes.values()) {
    for (const slot of [...box.sendSlots, ...box.readSlots]) await slot.route.close?.();
  }
}
