/**
 * Fault injection: every fault mode of test/peers/fault-proxy.ts between tokenwarden and a real
 * oidc-provider (see bench/fault-run.ts for what is counted). A correctness measurement: the
 * figures are counts per fault mode.
 *
 *   npx tsx bench/fault-injection.ts [faultMinutes=10]
 */
import { ALL_FAULTS, runFaults } from './fault-run.js';
import { loadMeter } from './lib/pairs.js';
import { writeResult } from './lib/report.js';

const minutes = Number(process.argv[2] ?? 10);
const started = performance.now();
const load = loadMeter();
const results = await runFaults(ALL_FAULTS, { faultMs: minutes * 60_000 });
const seconds = Math.round((performance.now() - started) / 1000);
const rows = results.map(
  (r) =>
    `| ${r.mode} | **${r.falseReauthRequired}** | **${r.expiredTokensServed}** | ${r.tokensServed} | ${r.unavailableAnswers} | ${r.requestsDuringFault} | **${r.retryAfterViolations}** | ${r.recoveryMs === null ? 'not recovered' : `${(r.recoveryMs / 1000).toFixed(0)} s`} | ${r.finalState ?? '—'} |`,
);
writeResult(
  'fault-injection',
  `npx tsx bench/fault-injection.ts ${minutes}`,
  [
    `Each fault mode of the fault proxy, between tokenwarden's token requests and a real oidc-provider with rotation (120 s access tokens), for ${minutes} simulated minute${minutes === 1 ? '' : 's'} while a caller asks for a token every 5 s; then the fault clears. One run, ${seconds} s, ${load.end()}. Left out on purpose: the clock is simulated (so minutes of fault pass in seconds) and each provider request is cut after 400 ms of real time (so a hanging provider does not hold the run).`,
    '',
    '| fault | false reauth_required | expired tokens served | tokens served | "unavailable" answers | token requests during the fault | requests before Retry-After | recovery after the fault (simulated) | final state |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows,
    '',
    'Targets: 0 false reauth_required, 0 expired tokens served, 0 requests before a Retry-After had passed.',
  ].join('\n'),
  { faultMinutes: minutes, seconds, results },
);
