/**
 * Prometheus metrics (`tokenwarden_*`), one Registry per app (never prom-client's global
 * default, so several servers in one process and tests do not share series).
 *
 * Gauges are read from the store at scrape time; counters and the re-auth latency histogram
 * are fed from the warden's live `event` stream. Labels are config names and outcome words
 * only — never an account, a token or a message text.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { CONNECTION_STATES, type WardenEvent } from '../core/types.js';
import type { ServerContext } from './context.js';
import { partsOf } from '../warden.js';

export interface WardenMetrics {
  registry: Registry;
  /** Re-read the store into the gauges (called on every scrape). */
  update(): Promise<void>;
  /** Feed one event into the counters (exposed for tests and replay). */
  observe(e: WardenEvent): void;
  /** Stop listening to the warden's events. */
  detach(): void;
}

/**
 * Up to this many connections, every (connection, state) pair is exported (0 or 1) and the
 * refresh counters exist from the start; beyond it, only the current state and counters that
 * have counted — 7 series per connection per scrape would be 700,000 at 100,000 connections.
 */
export const FULL_DETAIL_MAX = 1_000;

const str = (v: unknown, fallback = ''): string => (typeof v === 'string' ? v : fallback);

export function createMetrics(ctx: ServerContext): WardenMetrics {
  const { warden } = ctx;
  const registry = new Registry();
  const m = createSeries(registry);
  // Series exist from the start, so rate() and absent() behave before the first event — for up
  // to FULL_DETAIL_MAX connections. Beyond that they appear with their first event: 100,000
  // connections × 3 zero series were ~60 MB of the daemon's heap (bench/serve-memory.ts).
  if (partsOf(warden).connections.size <= FULL_DETAIL_MAX)
    for (const name of partsOf(warden).connections.keys())
      for (const outcome of ['success', 'transient', 'definitive']) m.refreshes.labels(name, outcome).inc(0);

  const observe = (e: WardenEvent): void => observeEvent(m, e);
  const onEvent = (e: WardenEvent): void => observe(e);
  warden.events.on('event', onEvent);
  return {
    registry,
    update: () => updateGauges(m, ctx),
    observe,
    detach: () => warden.events.off('event', onEvent),
  };
}

type Series = ReturnType<typeof createSeries>;

/** Every series, registered on `registry`. */
function createSeries(registry: Registry) {
  const state = new Gauge({
    name: 'tokenwarden_connection_state',
    help: 'Lifecycle state of each connection: 1 for the current state, 0 for the others (above 1,000 connections only the current state).',
    labelNames: ['connection', 'state'] as const,
    registers: [registry],
  });
  const accessExpiry = new Gauge({
    name: 'tokenwarden_access_token_expiry_seconds',
    help: 'Seconds until the stored access token expires (negative: already expired).',
    labelNames: ['connection'] as const,
    registers: [registry],
  });
  const refreshDeath = new Gauge({
    name: 'tokenwarden_refresh_token_predicted_death_seconds',
    help: 'Seconds until the refresh token is predicted (or announced) to die.',
    labelNames: ['connection'] as const,
    registers: [registry],
  });
  const openFlows = new Gauge({
    name: 'tokenwarden_reauth_flows_open',
    help: 'Human-assisted flows currently open (a human has been asked and has not answered).',
    labelNames: ['connection'] as const,
    registers: [registry],
  });
  const refreshes = new Counter({
    name: 'tokenwarden_refresh_total',
    help: 'Refresh attempts by outcome: success, transient (provider/network down), definitive (grant refused), adopted (another process rotated first).',
    labelNames: ['connection', 'outcome'] as const,
    registers: [registry],
  });
  const reauthLatency = new Histogram({
    name: 'tokenwarden_reauth_latency_seconds',
    help: 'Time from asking a human to re-authorize to the new tokens being stored.',
    buckets: [5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 12 * 3600, 24 * 3600],
    registers: [registry],
  });
  const probes = new Counter({
    name: 'tokenwarden_probe_total',
    help: 'Health probes by outcome (ok, failed, unavailable, reauth_required…).',
    labelNames: ['connection', 'outcome'] as const,
    registers: [registry],
  });
  const mailSent = new Counter({
    name: 'tokenwarden_mail_sent_total',
    help: 'Outgoing mail by mailbox, route and outcome (sent, failed, failover).',
    labelNames: ['mailbox', 'route', 'outcome'] as const,
    registers: [registry],
  });
  const outboxDepth = new Gauge({
    name: 'tokenwarden_outbox_depth',
    help: 'Outbox messages by mailbox and status.',
    labelNames: ['mailbox', 'status'] as const,
    registers: [registry],
  });

  return { state, accessExpiry, refreshDeath, openFlows, refreshes, reauthLatency, probes, mailSent, outboxDepth };
}

/** Feed one event into the counters. */
function observeEvent(m: Series, e: WardenEvent): void {
  const conn = e.connection ?? '';
  const d = e.data ?? {};
  switch (e.type) {
    case 'refreshed':
    case 'recovered':
      m.refreshes.labels(conn, 'success').inc();
      break;
    case 'degraded':
      m.refreshes.labels(conn, 'transient').inc();
      break;
    case 'refresh_failed':
      m.refreshes.labels(conn, d['definitive'] === true ? 'definitive' : 'transient').inc();
      break;
    case 'rotation_adopted':
      m.refreshes.labels(conn, 'adopted').inc();
      break;
    case 'reauth_completed':
      if (typeof d['msSinceAsked'] === 'number' && d['msSinceAsked'] >= 0)
        m.reauthLatency.observe(d['msSinceAsked'] / 1000);
      break;
    case 'probe_ok':
      m.probes.labels(conn, 'ok').inc();
      break;
    case 'probe_failed':
      m.probes.labels(conn, str(d['outcome'], str(d['kind'], 'failed'))).inc();
      break;
    case 'mail_sent':
      m.mailSent.labels(str(d['mailbox']), str(d['route']), 'sent').inc();
      break;
    case 'mail_failed':
      m.mailSent.labels(str(d['mailbox']), str(d['route']), 'failed').inc();
      break;
    case 'mail_failover':
      m.mailSent.labels(str(d['mailbox']), str(d['to']), 'failover').inc();
      break;
    default:
      break;
  }
}

/** Re-read the store into the gauges. */
async function updateGauges(m: Series, ctx: ServerContext): Promise<void> {
  const { warden } = ctx;
  const now = ctx.clock.now();
  const all = await warden.status();
  const fullDetail = all.length <= FULL_DETAIL_MAX;
  m.state.reset();
  m.accessExpiry.reset();
  m.refreshDeath.reset();
  m.openFlows.reset();
  for (const s of all) {
    if (fullDetail) for (const st of CONNECTION_STATES) m.state.labels(s.name, st).set(s.state === st ? 1 : 0);
    else m.state.labels(s.name, s.state).set(1);
    if (s.accessExpiresAt !== null) m.accessExpiry.labels(s.name).set((s.accessExpiresAt - now) / 1000);
    if (s.refreshExpiresAt !== null) m.refreshDeath.labels(s.name).set((s.refreshExpiresAt - now) / 1000);
    m.openFlows.labels(s.name).set(s.openFlow ? 1 : 0);
  }
  m.outboxDepth.reset();
  for (const mailbox of Object.keys(warden.config.mailboxes)) {
    const st = await partsOf(warden).store.outboxStats(mailbox);
    for (const status of ['pending', 'sending', 'failed'] as const)
      m.outboxDepth.labels(mailbox, status).set(st[status]);
  }
}
