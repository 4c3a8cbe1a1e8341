/**
 * Crash safety: kill -9 at random instants during refresh with rotation, flow completion and
 * outbox delivery, on one SQLite store against a real oidc-provider and SMTP server (see
 * bench/crash-run.ts for what is checked). A correctness measurement: the figures are counts.
 *
 *   npx tsx bench/crash.ts [refreshKills=250] [flowKills=125] [mailKills=125]
 */
import { runCrash } from './crash-run.js';
import { loadMeter } from './lib/pairs.js';
import { writeResult } from './lib/report.js';

const [r = '250', f = '125', m = '125'] = process.argv.slice(2);
const started = performance.now();
const load = loadMeter();
const report = await runCrash({
  refreshKills: Number(r),
  flowKills: Number(f),
  mailKills: Number(m),
  onProgress: (l) => process.stderr.write(`  ${l}\n`),
});
const seconds = Math.round((performance.now() - started) / 1000);
const { refresh, flow, mail } = report;
const w = refresh.windowMs;
writeResult(
  'crash',
  `npx tsx bench/crash.ts ${r} ${f} ${m}`,
  [
    `${report.kills} SIGKILLs at uniform random instants after each worker is ready; worker processes share one SQLite store (synchronous=FULL) with a real oidc-provider (refresh-token rotation) and a local SMTP server. One run, ${seconds} s, ${load.end()}.`,
    '',
    '| phase | kills | completed | lost in the commit window | lost otherwise | other |',
    '|---|---|---|---|---|---|',
    `| refresh with rotation | ${refresh.kills} | ${refresh.refreshesCompleted} refreshes | ${refresh.lostInWindow} | **${refresh.lostOutsideWindow}** | window p50 ${w.p50} ms, p99 ${w.p99} ms (${w.samples} samples) |`,
    `| flow completion | ${flow.kills} | ${flow.completed} completed, ${flow.recoveredByRepaste} by pasting again | ${flow.lostInWindow} | **${flow.lostClaimedNotExchanged + flow.lostOther}** | claimed but not exchanged: ${flow.lostClaimedNotExchanged} |`,
    `| outbox delivery | ${mail.kills} | ${mail.delivered} delivered of ${mail.acknowledged} acknowledged | — | **${mail.lost}** | duplicates (same Message-ID twice): ${mail.duplicates} |`,
    '',
    'Target: 0 lost outside the window in every phase. "The commit window" is a kill after the provider answered and before the new tokens were committed: the provider has rotated, the store still holds the old token.',
  ].join('\n'),
  { ...report, seconds },
);
