/** `tokenwarden check [conn]`: live probes; exit 3 if any connection needs a human, 4 if a provider is unavailable. */
import { probe } from '../actions/probe.js';
import { openWarden, partsOf } from '../warden.js';
import { EXIT } from './exit-codes.js';
import { jsonLine, table, wardenOptions, type Io } from './output.js';

export async function runCheck(
  o: { config?: string; conn?: string | undefined; json?: boolean },
  io: Io,
): Promise<number> {
  const warden = await openWarden(wardenOptions(o, io));
  try {
    const results = await probe(partsOf(warden), o.conn ? [o.conn] : undefined);
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
