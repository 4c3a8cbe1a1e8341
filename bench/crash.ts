/**
 * Crash safety: ≥ 500 kill -9 at random instants during refresh with rotation,
 * flow completion and outbox delivery (see bench/crash-run.ts for what is checked).
 *
 *   npx tsx bench/crash.ts [refreshKills=250] [flowKills=125] [mailKills=125]
 */
import { runCrash } from './crash-run.js';

const [r = '250', f = '125', m = '125'] = process.argv.slice(2);
const started = performance.now();
const report = await runCrash({
  refreshKills: Number(r),
  flowKills: Number(f),
  mailKills: Number(m),
  onProgress: (l) => process.stderr.write(`  ${l}\n`),
});
console.log(JSON.stringify({ ...report, seconds: Math.round((performance.now() - started) / 1000) }, null, 2));
