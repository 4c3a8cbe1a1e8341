/**
 * The daemon's clock-driven work (DESIGN sections 4 and 5): refresh every connection ahead of
 * expiry, probe on a schedule, open renewal flows before a predicted refresh-token death,
 * remind and escalate, replace expired links, and ask for a human when another process found a
 * grant dead.
 *
 * Efficient for many connections: the store is read in full only every `rescanMs` (other
 * processes' changes; PostgreSQL notifications shorten that), each connection's next due time
 * is computed from an in-memory plan, a connection is re-read only after work on it or an event
 * about it, and the loop sleeps on the {@link Clock} until the earliest due time — no busy loop,
 * and a FakeClock drives it in tests.
 */
import type { Clock } from '../core/clock.js';
import { ReauthRequiredError } from '../core/errors.js';
import { redact, type Logger } from '../core/logger.js';
import { shouldRefresh } from '../core/refresh-policy.js';
import type { WardenEvent } from '../core/types.js';
import { probeConnection } from '../keeper/probe.js';
import type { ConnectionRecord, FlowRecord } from '../store/types.js';
import type { Warden } from '../warden.js';
import type { HumanNeed, ReauthOrchestrator } from './orchestrator.js';

export interface SchedulerOptions {
  clock?: Clock;
  logger?: Logger;
  /** Re-read every connection at least this often (changes made by other processes). Default 30 s. */
  rescanMs?: number;
  /** Probe each serving connection this often; 0 disables. Default 30 min (first probes spread over the interval). */
  probeIntervalMs?: number;
  /** Connections worked on at once. Default 8. */
  concurrency?: number;
  /** After a failed step, wait at least this long before trying it again. Default 30 s. */
  retryMs?: number;
}

export type WorkKind = 'refresh' | 'probe' | 'ask' | 'renew' | 'follow_up' | 'mark_expiring';

export interface PlanInput {
  now: number;
  kind: string;
  row: ConnectionRecord | null;
  flow: FlowRecord | null;
  need: HumanNeed;
  /** From the orchestrator: when the open flow is next due, when a renewal opens. */
  followUpAt: number | null;
  renewalAt: number | null;
  /** When the next probe is due (null: probing off). */
  probeAt: number | null;
}

/** Pure: what is due for one connection now, and when it next needs a look. */
export function planConnection(p: PlanInput): { due: WorkKind[]; nextAt: number | null } {
  const due: WorkKind[] = [];
  let nextAt: number | null = null;
  const later = (t: number | null): void => {
    if (t !== null) nextAt = nextAt === null ? t : Math.min(nextAt, t);
  };
  const at = (t: number | null, kind: WorkKind): void => {
    if (t === null) return;
    if (t <= p.now) due.push(kind);
    else later(t);
  };
  const row = p.row;
  if (p.kind === 'static') return { due, nextAt };
  // The human side.
  if (p.flow) {
    at(p.followUpAt, 'follow_up');
    if (p.need === 'predicted' && row?.state === 'healthy') due.push('mark_expiring');
  } else if (p.need === 'dead' && row && row.state !== 'unauthorized') due.push('ask');
  else if (p.need === 'predicted') due.push('renew');
  else later(p.renewalAt);
  // The machine side: only while the connection serves tokens.
  const serving = row && row.state !== 'reauth_required' && row.state !== 'awaiting_human';
  if (serving) {
    let refreshAt: number | null = null;
    if (!row.accessToken) refreshAt = p.kind === 'oauth' && !row.refreshToken ? null : p.now;
    else if (row.accessExpiresAt !== null)
      refreshAt = shouldRefresh({
        now: p.now,
        hasAccessToken: true,
        accessExpiresAt: row.accessExpiresAt,
        obtainedAt: row.lastRefreshAt,
      }).refreshAt;
    if (refreshAt !== null && row.state === 'degraded' && row.nextAttemptAt !== null)
      refreshAt = Math.max(refreshAt, row.nextAttemptAt);
    at(refreshAt, 'refresh');
    if (row.accessToken) at(p.probeAt, 'probe');
  }
  return { due, nextAt };
}

interface Entry {
  row: ConnectionRecord | null;
  flow: FlowRecord | null;
}

export class Scheduler {
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly rescanMs: number;
  private readonly probeIntervalMs: number;
  private readonly concurrency: number;
  private readonly retryMs: number;
  private readonly entries = new Map<string, Entry>();
  private readonly dirty = new Set<string>();
  private readonly nextProbe = new Map<string, number>();
  /** A step that ran and is still due waits until `until`, unless the row changed meanwhile. */
  private readonly notBefore = new Map<string, { until: number; version: number | null }>();
  private nextScanAt = 0;
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

  constructor(
    private readonly warden: Warden,
    private readonly orchestrator: ReauthOrchestrator,
    opts: SchedulerOptions = {},
  ) {
    this.clock = opts.clock ?? warden.deps.clock;
    this.logger = opts.logger ?? warden.deps.logger;
    this.rescanMs = opts.rescanMs ?? 30_000;
    this.probeIntervalMs = opts.probeIntervalMs ?? 30 * 60_000;
    this.concurrency = Math.max(1, opts.concurrency ?? 8);
    this.retryMs = opts.retryMs ?? 30_000;
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

  /** Something changed about `connection` (or everything): look again now. */
  poke(connection?: string): void {
    if (connection) this.dirty.add(connection);
    else this.nextScanAt = 0;
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
      const wait = Math.max(0, Math.min(nextAt, this.nextScanAt) - this.clock.now());
      this.wake = new AbortController();
      this.parked = true;
      for (const w of this.parkWaiters.splice(0)) w();
      await this.clock.sleep(wait, this.wake.signal).catch(() => undefined);
      this.parked = false;
    }
    this.parked = true;
    for (const w of this.parkWaiters.splice(0)) w();
  }

  /** One pass: refresh the plan from the store where needed, run everything due. */
  async runOnce(): Promise<{ ran: number; nextAt: number }> {
    let now = this.clock.now();
    if (now >= this.nextScanAt) {
      await this.scanAll();
      this.nextScanAt = now + this.rescanMs;
    }
    for (const name of [...this.dirty]) {
      this.dirty.delete(name);
      await this.scanOne(name);
    }
    now = this.clock.now();
    const work: Array<{ name: string; kind: WorkKind; entry: Entry }> = [];
    let nextAt = now + this.rescanMs;
    for (const [name, rt] of this.warden.connections) {
      const entry = this.entries.get(name) ?? { row: null, flow: null };
      const need = this.orchestrator.needsHuman(name, entry.row, now);
      const plan = planConnection({
        now,
        kind: rt.config.kind,
        row: entry.row,
        flow: entry.flow,
        need,
        followUpAt: entry.flow ? this.orchestrator.followUpAt(entry.flow, need) : null,
        renewalAt: entry.row ? this.orchestrator.renewalAt(name, entry.row) : null,
        probeAt: this.probeAt(name, now),
      });
      if (plan.nextAt !== null) nextAt = Math.min(nextAt, plan.nextAt);
      for (const kind of plan.due) {
        const key = `${kind}:${name}`;
        const nb = this.notBefore.get(key);
        if (nb !== undefined && nb.until > now && nb.version === (entry.row?.version ?? null)) {
          nextAt = Math.min(nextAt, nb.until);
          continue;
        }
        work.push({ name, kind, entry });
      }
    }
    await this.runAll(work);
    return { ran: work.length, nextAt };
  }

  private probeAt(name: string, now: number): number | null {
    if (this.probeIntervalMs <= 0) return null;
    let at = this.nextProbe.get(name);
    if (at === undefined) {
      // Spread first probes over the interval so a restart does not probe everything at once.
      at = now + (hash(name) % this.probeIntervalMs);
      this.nextProbe.set(name, at);
    }
    return at;
  }

  private async runAll(work: Array<{ name: string; kind: WorkKind; entry: Entry }>): Promise<void> {
    let i = 0;
    const worker = async (): Promise<void> => {
      while (i < work.length && !this.stopping) {
        const w = work[i++];
        if (w) await this.runItem(w.name, w.kind, w.entry);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, work.length) }, worker));
  }

  private async runItem(name: string, kind: WorkKind, entry: Entry): Promise<void> {
    const key = `${kind}:${name}`;
    this.counts[kind]++;
    let ok = true;
    try {
      switch (kind) {
        case 'refresh':
          await this.warden.keeper.accessToken(name);
          break;
        case 'probe':
          this.nextProbe.set(name, this.clock.now() + this.probeIntervalMs);
          await probeConnection(this.warden, name);
          break;
        case 'ask':
          await this.orchestrator.requestReauth(name, { reason: entry.row?.cause?.id ?? 'reauth_required' });
          break;
        case 'renew':
          await this.orchestrator.requestReauth(name, { reason: 'predicted' });
          break;
        case 'follow_up':
          if (entry.flow) await this.orchestrator.followUp(entry.flow.id);
          break;
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
    // A step that is still due right after it ran (or failed) waits before it runs again.
    await this.scanOne(name);
    const version = this.entries.get(name)?.row?.version ?? null;
    this.notBefore.set(key, { until: this.clock.now() + (ok ? Math.min(1_000, this.retryMs) : this.retryMs), version });
  }

  private async scanAll(): Promise<void> {
    const rows = await this.warden.store.listConnections();
    const flows = await this.warden.store.listOpenFlows();
    this.entries.clear();
    for (const r of rows) this.entries.set(r.name, { row: r, flow: null });
    for (const f of flows) {
      const e = this.entries.get(f.connection) ?? { row: null, flow: null };
      if (!e.flow) e.flow = f; // newest first
      this.entries.set(f.connection, e);
    }
  }

  private async scanOne(name: string): Promise<void> {
    const row = await this.warden.store.getConnection(name);
    const flow = (await this.warden.store.listOpenFlows(name))[0] ?? null;
    this.entries.set(name, { row, flow });
  }
}

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

export function createScheduler(
  warden: Warden,
  orchestrator: ReauthOrchestrator,
  opts: SchedulerOptions = {},
): Scheduler {
  return new Scheduler(warden, orchestrator, opts);
}
