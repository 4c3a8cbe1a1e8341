/**
 * Fault injection: every fault mode of test/peers/fault-proxy.ts between
 * tokenwarden and oidc-provider (see bench/fault-run.ts for what is counted).
 *
 *   npx tsx bench/fault-injection.ts [faultMinutes=10]
 */
import { ALL_FAULTS, runFaults } from './fault-run.js';

const minutes = Number(process.argv[2] ?? 10);
const results = await runFaults(ALL_FAULTS, { faultMs: minutes * 60_000 });
console.table(results);
console.log(JSON.stringify({ faultMinutes: minutes, results }));
