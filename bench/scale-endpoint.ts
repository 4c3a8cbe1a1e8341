/**
 * Child process of bench/scale.ts: the fast token endpoint in its own process, so the
 * benchmark's resident memory is tokenwarden's alone. Replies `{ tokenUrl, authUrl }` once
 * listening, answers `'stats'` with its counters and `'gens'` with every connection's current
 * refresh-token generation, and stops on `'exit'`.
 */
import { startFastTokenEndpoint } from '../test/peers/fast-token-endpoint.js';

const ttl = Number(process.argv[2] ?? 3600);
const ep = await startFastTokenEndpoint({ accessTtlSeconds: ttl, rotate: true });
process.on('message', (m: unknown) => {
  if (m === 'stats') process.send?.({ stats: ep.stats() });
  if (m === 'gens') process.send?.({ gens: ep.generations() });
  if (m === 'exit') void ep.stop().then(() => process.exit(0));
});
process.on('disconnect', () => void ep.stop().then(() => process.exit(0)));
process.send?.({ tokenUrl: ep.tokenUrl, authUrl: ep.authUrl });
