/** `tokenwarden check [conn]`: live probes; exit 3 if any connection needs a human, 4 if a provider is unavailable. */
import { probeConnection } from '../keeper/probe.js';
import { openWarden, partsOf } from '../warden.js';
import { EXIT } from './exit-codes.js';
import { jsonLine, table, wardenOptions, type Io } from './output.js';

export async function runCheck(
  o: { config?: string; conn?: string | undefined; json?: boolean },
  io: Io,
): Promise<number> {
  const warden = await openWarden(wardenOptions(o, io));
  try {
    const names = o.conn ? [o.conn] : [...partsOf(warden).connections.keys()];
    const results = [];
    for (const n of names) results.push(await probeConnection(partsOf(warden), n));
    if (o.json) io.out(jsonLine({ probes: results }));
    else
      io.out(
        table([
          ['CONNECTION', 'RESULT', 'ACCOUNT', 'DETAIL'],
          ...results.map((r) => [r.connection, r.outcome, r.account ?? '-', r.detail]),
        ]),
      );
    if (results.some((r) => r.outcome === 'reauth_required')) return EXIT.reauth;
    if (results.some((r) => r.outcome === 'unavailable')) return EXIT.unavailable;
    return results.every((r) => r.ok) ? EXIT.ok : EXIT.unexpected;
  } finally {
    await warden.close();
  }
}
