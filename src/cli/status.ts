/**
 * `tokenwarden status [--json]`: `--json` is the HTTP API's connection view (same fields, same
 * names). When a daemon runs on the store, its health warnings (a failing channel, App Password
 * route or client secret; only one route left) are shown too, read from its `/healthz`.
 */
import { formatDuration } from '../core/duration.js';
import { causeLine } from '../providers/causes.js';
import { connectionView } from '../actions/status-view.js';
import { openWarden, type Warden, partsOf } from '../warden.js';
import { runningDaemon } from '../daemon/lease.js';
import { jsonLine, table, when, wardenOptions, type Io } from './output.js';

interface DaemonHealth {
  running: boolean;
  /** null: the daemon's health endpoint did not answer (another address, TLS). */
  warnings: string[] | null;
  failing: Array<{ subject: string; detail: string | null; fix: string | null }>;
}

async function daemonHealth(warden: Warden): Promise<DaemonHealth> {
  if (!(await runningDaemon(partsOf(warden).store, partsOf(warden).deps.clock.now())))
    return { running: false, warnings: [], failing: [] };
  const s = warden.config.server;
  const [host, port] = [s.listen.slice(0, s.listen.lastIndexOf(':')), s.listen.slice(s.listen.lastIndexOf(':') + 1)];
  const local = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '[::1]' : host;
  try {
    // The details need the API key (or loopback when none is configured).
    const apiKey = (await import('../daemon.js')).loadApiKey(warden);
    const res = await fetch(`${s.tls_cert ? 'https' : 'http'}://${local}:${port}/healthz`, {
      signal: AbortSignal.timeout(3_000),
      ...(apiKey ? { headers: { authorization: `Bearer ${apiKey}` } } : {}),
    });
    const body = (await res.json()) as { warnings?: unknown; failing?: unknown; error?: string };
    return {
      running: true,
      warnings: [
        ...(body.error ? [`The daemon is unhealthy: ${body.error}`] : []),
        ...(Array.isArray(body.warnings) ? (body.warnings as string[]) : []),
      ],
      failing: Array.isArray(body.failing) ? (body.failing as DaemonHealth['failing']) : [],
    };
  } catch {
    return { running: true, warnings: null, failing: [] };
  }
}

export async function runStatus(o: { config?: string; json?: boolean }, io: Io): Promise<number> {
  const warden = await openWarden(wardenOptions(o, io));
  try {
    const list = await warden.status();
    const now = io.now();
    const daemon = await daemonHealth(warden);
    if (o.json) {
      io.out(jsonLine({ connections: list.map((s) => connectionView(s, now)), daemon }));
      return 0;
    }
    const rows = [
      ['CONNECTION', 'PROVIDER', 'STATE', 'ACCOUNT', 'ACCESS EXPIRES', 'REFRESH TOKEN DIES', 'RENEWAL', 'CAUSE / FLOW'],
    ];
    for (const c of list)
      rows.push([
        c.name,
        c.provider,
        c.state,
        c.account ?? '-',
        when(c.accessExpiresAt, now),
        c.refreshExpiresAt ? when(c.refreshExpiresAt, now) : 'no known limit',
        c.plannedRenewalAt ? `asks ${when(c.plannedRenewalAt, now)}` : '-',
        c.openFlow
          ? `asked: ${c.openFlow.url} (until ${new Date(c.openFlow.expiresAt).toISOString()})`
          : c.cause
            ? causeLine(c.cause)
            : c.learned?.cause
              ? `Renewal planned before ${formatDuration(c.learned.lifetimeMs)} after consent (learned from ${c.learned.deaths} death(s)): ${causeLine(c.learned.cause)}`
              : '',
      ]);
    io.out(table(rows));
    if (daemon.running) {
      if (daemon.warnings === null)
        io.out(
          `\nA daemon runs on this store; its health endpoint did not answer at ${warden.config.server.listen}.\n`,
        );
      else if (daemon.warnings.length || daemon.failing.length) {
        io.out('\nWarnings from the running daemon:\n');
        for (const w of daemon.warnings) io.out(`  - ${w}\n`);
        for (const f of daemon.failing)
          io.out(`  - ${f.subject}: ${f.detail ?? 'failing'}${f.fix ? ` Fix: ${f.fix}` : ''}\n`);
      }
    }
    return 0;
  } finally {
    await warden.close();
  }
}
