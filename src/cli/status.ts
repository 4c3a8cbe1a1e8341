/** `tokenwarden status [--json]`: `--json` is the HTTP API's connection view (same fields, same names). */
import { connectionView } from '../server/connection-view.js';
import { openWarden } from '../warden.js';
import { jsonLine, table, when, type Io } from './output.js';

export async function runStatus(o: { config?: string; json?: boolean }, io: Io): Promise<number> {
  const warden = await openWarden(o.config ? { configPath: o.config } : {});
  try {
    const list = await warden.status();
    const now = io.now();
    if (o.json) {
      io.out(jsonLine({ connections: list.map((s) => connectionView(s, now, warden.config)) }));
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
            ? `${c.cause.summary} Fix: ${c.cause.fix}`
            : '',
      ]);
    io.out(table(rows));
    return 0;
  } finally {
    await warden.close();
  }
}
