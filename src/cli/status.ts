/** `tokenwarden status [--json]`. */
import { openWarden } from '../warden.js';
import { formatDuration } from '../core/duration.js';
import { causeLine } from '../providers/causes.js';
import { jsonLine, table, when, wardenOptions, type Io } from './output.js';

export async function runStatus(o: { config?: string; json?: boolean }, io: Io): Promise<number> {
  const warden = await openWarden(wardenOptions(o, io));
  try {
    const list = await warden.status();
    const now = io.now();
    if (o.json) {
      io.out(jsonLine({ connections: list }));
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
    return 0;
  } finally {
    await warden.close();
  }
}
