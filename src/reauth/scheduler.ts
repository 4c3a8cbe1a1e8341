/**
 * The daemon's clock-driven work: refresh every connection ahead of
 * expiry, probe on a schedule, open renewal flows before a predicted refresh-token death,
 * remind and escalate, replace expired links, and ask for a human when another process found a
 * grant dead.
 *
 * Built for 100,000 connections: each connection has one due time per lane (refresh, probe,
 * human, flow) in a binary heap ({@link DueQueue}), so a wake-up pops only what is due and
 * re-plans only those connections. The plan is kept up to date incrementally: a connection is
 * re-read after work on it, on a warden event about it, or on a store change notification;
 * every `rescanMs` a cheap reconciliation compares row versions (no secrets opened) and open
 * flows with what it knows, and re-reads only the rows that changed. The full read happens
 * once at start (and on `poke()` with no name). The loop sleeps on the {@link Clock} until the
 * earliest due time — no busy loop, and a FakeClock drives it in tests.
 */
import type { EventEmitter } from 'node:events';
import type { Clock } from '../core/clock.js';
import { ReauthRequiredError } from '../core/errors.js';
import { redact, type Logger } from '../core/logger.js';
import type { WardenEvent } from '../core/types.js';
import type { Keeper } from '../keeper/keeper.js';
import { probeConnection, type ProbeDeps } from '../keeper/probe.js';
import type { ConnectionFacts, ConnectionRecord, FlowRecord, Store } from '../store/types.js';
import { DueQueue } from './due-queue.js';
import type { ReauthOrchestrator } from './orchestrator.js';
import { PlanRows } from './plan-rows.js';
import { LANE_OF, LANES, planConnection, type Lane, type Plan, type WorkKind } from './schedule-plan.js';

export { planConnection, type PlanInput, type PlanRow, type WorkKind } from './schedule-plan.js';

export interface SchedulerOptions {
  clock?: Clock;
  logger?: Logger;
  /**
   * Look for changes made by other processes at least this often: row versions and open flows
   * are compared and only changed rows re-read (a full re-read if the store cannot list
   * versions). Change notifications usually see them sooner. Default 30 s.
   */
  rescanMs?: number;
  /** Probe each serving connection this often; 0 disables. Default 30 min (first probes soon after start, spread at 20/s). */
  probeIntervalMs?: number;
  /** Connections worked on at once. Default 8. */
  concurrency?: number;
  /** After a failed step, wait at least this long before trying it again. Default 30 s. */
  retryMs?: number;
}

interface Work {
  i: number;
  kind: WorkKind;
}

const LANE_INDEX: Readonly<Record<Lane, number>> = { refresh: 0, probe: 1, human: 2, flow: 3 };

/** First probes after start, per second across all connections (a cheap GET each). */
const STARTUP_PROBES_PER_S = 20;

export class Scheduler {
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly rescanMs: number;
  private readonly probeIntervalMs: number;
  private readonly concurrency: number;
  private readonly retryMs: number;
  /** Configured connections by index; per-index state below. */
  private readonly names: string[];
  private readonly kinds: string[];
  /** Each connection's scheduling facts, in columns (plan-rows.ts). */
  private readonly rows: PlanRows;
  private readonly flows: Array<FlowRecord | null>;
  private readonly nextProbe: Float64Array;
  /** Due times per (connection, lane): id = index × LANES.length + lane. */
  private readonly queue = new DueQueue();
  private readonly dirty = new Set<string>();
  /** A step still due right after it ran (or failed) waits until `until`, unless the row changed meanwhile. */
  private readonly notBefore = new Map<string, { until: number; version: number | null }>();
  private nextScanAt = 0;
  private fullScan = true;
  private wake: AbortController | null = null;
  private loop: Promise<void> | null = null;
  private stopping = false;
  private parked = false;
  private parkWaiters: Array<() => void> = [];
  private unsubscribe: Array<() => void> = [];
  /** Work items run so far, by kind (observability and tests). */
  readonly counts: Record<WorkKind, number> = {
    refresh: 0,
    probe: 0,
    ask: 0,
    renew: 0,
    follow_up: 0,
    mark_expiring: 0,
  };
  /** Store reads made so far (observability and the scale benchmark). */
  readonly reads = { full: 0, versions: 0, rows: 0 };

  constructor(
    private readonly warden: SchedulerDeps,
    private readonly orchestrator: ReauthOrchestrator,
    opts: SchedulerOptions = {},
  ) {
    this.clock = opts.clock ?? warden.deps.clock;
    this.logger = opts.logger ?? warden.deps.logger;
    this.rescanMs = opts.rescanMs ?? 30_000;
    this.probeIntervalMs = opts.probeIntervalMs ?? 30 * 60_000;
    this.concurrency = Math.max(1, opts.concurrency ?? 8);
    this.retryMs = opts.retryMs ?? 30_000;
    this.names = [...warden.connections.keys()];
    this.kinds = [...warden.connections.values()].map((rt) => rt.config.kind);
    this.rows = new PlanRows(this.names.length);
    this.flows = new Array<FlowRecord | null>(this.names.length).fill(null);
    this.nextProbe = new Float64Array(this.names.length).fill(NaN);
  }

  /** A configured connection's index (its position in the config, as in every per-index array here). */
  private indexOf(name: string): number | undefined {
    return this.warden.connections.get(name)?.index;
  }

  start(): void {
    if (this.loop) return;
    this.stopping = false;
    const onEvent = (e: WardenEvent): void => {
      if (e.connection) this.poke(e.connection);
    };
    this.warden.events.on('event', onEvent);
    this.unsubscribe.push(() => this.warden.events.off('event', onEvent));
    const off = this.warden.store.onConnectionChanged?.((name) => this.poke(name));
    if (off) this.unsubscribe.push(off);
    this.loop = this.run().catch((err: unknown) =>
      this.logger.error('scheduler stopped on an error', { error: redact(String(err)) }),
    );
  }

  /** Stop after the work in progress finishes. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const u of this.unsubscribe.splice(0)) u();
    this.wake?.abort();
    await this.loop;
    this.loop = null;
  }

  /** Something changed about `connection` (or everything: a full re-read): look again now. */
  poke(connection?: string): void {
    if (connection) {
      if (this.indexOf(connection) === undefined) return;
      this.dirty.add(connection);
    } else {
      this.fullScan = true;
      this.nextScanAt = 0;
    }
    this.wake?.abort();
  }

  /** Resolves when the loop has nothing due and sleeps (tests: after `clock.advance`). */
  settled(): Promise<void> {
    if (this.parked && this.dirty.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.parkWaiters.push(resolve));
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      const { ran, nextAt } = await this.runOnce();
      if (this.stopping) break;
      if (ran > 0 || this.dirty.size > 0) continue;
      const wait = Math.max(0, nextAt - this.clock.now());
      this.wake = new AbortController();
      this.parked = true;
      for (const w of this.parkWaiters.splice(0)) w();
      await this.clock.sleep(wait, this.wake.signal).catch(() => undefined);
      this.parked = false;
    }
    this.parked = true;
    for (const w of this.parkWaiters.splice(0)) w();
  }

  /** One pass: bring changed connections up to date, run everything due, say when to wake next. */
  async runOnce(): Promise<{ ran: number; nextAt: number }> {
    let now = this.clock.now();
    if (now >= this.nextScanAt) {
      await this.reconcile();
      this.nextScanAt = now + this.rescanMs;
    }
    for (const name of [...this.dirty]) {
      this.dirty.delete(name);
      await this.reread(this.indexOf(name) as number);
    }
    now = this.clock.now();
    const work: Work[] = [];
    const seen = new Set<number>();
    for (const id of this.queue.popDue(now)) {
      const i = Math.floor(id / LANES.length);
      if (seen.has(i)) continue;
      seen.add(i);
      this.replan(i, now, work);
    }
    await this.runAll(work);
    return { ran: work.length, nextAt: Math.min(this.queue.peekAt(), this.nextScanAt) };
  }

  /** What is due for connection `i` now, from what is known about it. */
  private plan(i: number, now: number): Plan {
    const name = this.names[i] as string;
    const row = this.rows.get(i);
    const flow = this.flows[i] ?? null;
    const need = this.orchestrator.needsHuman(name, row, now);
    return planConnection({
      now,
      kind: this.kinds[i] as string,
      row,
      flow,
      need,
      followUpAt: flow ? this.orchestrator.followUpAt(flow, need) : null,
      renewalAt: row ? this.orchestrator.renewalAt(name, row) : null,
      probeAt: this.probeAt(i, now),
    });
  }

  /**
   * Re-plan connection `i`: each lane's next time goes into the queue. Due work is appended to
   * `work` (its lane leaves the queue until the work re-plans it), or — without `work` — queued
   * for now so the next pass picks it up. A step waiting out `notBefore` is queued for then.
   */
  private replan(i: number, now: number, work?: Work[]): void {
    const plan = this.plan(i, now);
    const times = plan.lanes;
    const name = this.names[i] as string;
    const version = this.rows.version(i);
    for (const kind of plan.due) {
      const lane = LANE_OF[kind];
      const key = `${kind}:${name}`;
      const nb = this.notBefore.get(key);
      if (nb !== undefined && nb.until > now && nb.version === version) times[lane] = min(times[lane], nb.until);
      else {
        if (nb !== undefined) this.notBefore.delete(key);
        if (work) work.push({ i, kind });
        else times[lane] = now;
      }
    }
    for (const lane of LANES) {
      const id = i * LANES.length + LANE_INDEX[lane];
      const t = times[lane];
      if (t === null) this.queue.delete(id);
      else this.queue.set(id, t);
    }
  }

  private probeAt(i: number, now: number): number | null {
    if (this.probeIntervalMs <= 0) return null;
    let at = this.nextProbe[i] as number;
    if (Number.isNaN(at)) {
      // Every connection is probed soon after start, spread so a restart never probes them all at
      // once: over n / STARTUP_PROBES_PER_S seconds (under a second for a few, the whole interval
      // at 100,000); the concurrency limit bounds them further.
      const window = Math.min(this.probeIntervalMs, Math.ceil((this.names.length / STARTUP_PROBES_PER_S) * 1000));
      at = now + (hash(this.names[i] as string) % Math.max(1, window));
      this.nextProbe[i] = at;
    }
    return at;
  }

  private async runAll(work: Work[]): Promise<void> {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < work.length && !this.stopping) {
        const w = work[next++];
        if (w) await this.runItem(w.i, w.kind);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, work.length) }, worker));
  }

  private async runItem(i: number, kind: WorkKind): Promise<void> {
    const name = this.names[i] as string;
    this.counts[kind]++;
    let ok = true;
    try {
      switch (kind) {
        case 'refresh':
          await this.warden.keeper.accessToken(name);
          break;
        case 'probe':
          this.nextProbe[i] = this.clock.now() + this.probeIntervalMs;
          await probeConnection(this.warden, name);
          break;
        case 'ask':
          await this.orchestrator.requestReauth(name, { reason: this.rows.causeId(i) ?? 'reauth_required' });
          break;
        case 'renew':
          await this.orchestrator.requestReauth(name, { reason: 'predicted' });
          break;
        case 'follow_up': {
          const flow = this.flows[i];
          if (flow) await this.orchestrator.followUp(flow.id);
          break;
        }
        case 'mark_expiring':
          await this.orchestrator.markExpiring(name);
          break;
      }
    } catch (err) {
      ok = false;
      // ReauthRequiredError from a refresh already reached the orchestrator through the keeper's hook.
      if (err instanceof ReauthRequiredError)
        this.logger.info(`scheduler: ${kind}: ${name} needs its human`, { connection: name });
      else
        this.logger.warn(`scheduler: ${kind} failed`, {
          connection: name,
          error: redact((err as Error)?.message ?? String(err)),
        });
    }
    // Events about this connection so far are covered by the re-read below.
    this.dirty.delete(name);
    await this.reread(i, false);
    // A step that is still due right after it ran (or failed) waits before it runs again.
    const now = this.clock.now();
    const key = `${kind}:${name}`;
    if (this.plan(i, now).due.includes(kind))
      this.notBefore.set(key, {
        until: now + (ok ? Math.min(1_000, this.retryMs) : this.retryMs),
        version: this.rows.version(i),
      });
    else this.notBefore.delete(key);
    this.replan(i, now);
  }

  /** Re-read one connection's row and newest open flow (and re-plan it unless told not to). */
  private async reread(i: number, replan = true): Promise<void> {
    const name = this.names[i] as string;
    this.reads.rows++;
    const row = await this.warden.store.getConnection(name);
    const flow = (await this.warden.store.listOpenFlows(name))[0] ?? null;
    this.rows.set(i, row);
    this.flows[i] = flow;
    if (replan) this.replan(i, this.clock.now());
  }

  /**
   * Catch up with changes no notification told us about. Cheap: row versions (no secret opened)
   * and open flows are compared with what is known; only differing connections are re-read.
   * The first pass (and a store without version listing) reads every row.
   */
  private async reconcile(): Promise<void> {
    const { store } = this.warden;
    const changed = new Set<number>();
    if (this.fullScan || !store.connectionVersions) {
      this.fullScan = false;
      this.reads.full++;
      // Secret-free where the store offers it: 100,000 decrypted rows at once cost hundreds of MB of
      // allocation and set V8's old-generation limit for the rest of the run (docs/reliability.md).
      // Streamed where the store can: the rows are never all held at once (the start-up peak).
      const take = (r: ConnectionFacts | ConnectionRecord): void => {
        const i = this.indexOf(r.name);
        if (i !== undefined) this.rows.set(i, r);
      };
      if (store.forEachConnectionFacts) await store.forEachConnectionFacts(take);
      else
        for (const r of store.listConnectionFacts ? await store.listConnectionFacts() : await store.listConnections())
          take(r);
      for (let i = 0; i < this.names.length; i++) changed.add(i);
    } else if (store.forEachConnectionVersion) {
      this.reads.versions++;
      // Streamed: at 100,000 connections a Map per pass (every 30 s) was most of the garbage.
      const visited = new Uint8Array(this.names.length);
      await store.forEachConnectionVersion((name, version) => {
        const i = this.indexOf(name);
        if (i === undefined) return;
        visited[i] = 1;
        if (version !== this.rows.version(i)) this.dirty.add(this.names[i] as string);
      });
      for (let i = 0; i < this.names.length; i++)
        if (visited[i] === 0 && this.rows.has(i)) this.dirty.add(this.names[i] as string);
    } else {
      this.reads.versions++;
      const versions = await store.connectionVersions();
      for (let i = 0; i < this.names.length; i++)
        if ((versions.get(this.names[i] as string) ?? null) !== this.rows.version(i))
          this.dirty.add(this.names[i] as string);
    }
    const open = new Map<string, FlowRecord>();
    for (const f of await store.listOpenFlows()) if (!open.has(f.connection)) open.set(f.connection, f); // newest first
    for (let i = 0; i < this.names.length; i++) {
      const known = this.flows[i] ?? null;
      const current = open.get(this.names[i] as string) ?? null;
      if (sameFlow(known, current)) continue;
      this.flows[i] = current;
      changed.add(i);
    }
    const now = this.clock.now();
    for (const i of changed) this.replan(i, now);
  }
}

function sameFlow(a: FlowRecord | null, b: FlowRecord | null): boolean {
  if (a === null || b === null) return a === b;
  return (
    a.id === b.id &&
    a.remindedAt === b.remindedAt &&
    a.expiresAt === b.expiresAt &&
    a.askedVia.length === b.askedVia.length
  );
}

function min(a: number | null, b: number): number {
  return a === null ? b : Math.min(a, b);
}

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** What the daemon's clock uses; the root builds it (docs/architecture.md, "The object graph"). */
export interface SchedulerDeps extends ProbeDeps {
  store: Store;
  keeper: Pick<Keeper, 'accessToken'>;
  /** Where recorded events are emitted (`event`): a change reschedules its connection. */
  events: EventEmitter;
  deps: ProbeDeps['deps'] & { logger: Logger };
}

export function createScheduler(
  warden: SchedulerDeps,
  orchestrator: ReauthOrchestrator,
  opts: SchedulerOptions = {},
): Scheduler {
  return new Scheduler(warden, orchestrator, opts);
}
