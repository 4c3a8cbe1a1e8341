/**
 * Probe connections: a token, then a cheap authenticated GET chosen from the provider profile
 * (src/keeper/probe.ts), each result recorded as an event. `tokenwarden check` and the daemon's
 * schedule probe through here.
 */
import { probeConnection, type ProbeDeps, type ProbeResult } from '../keeper/probe.js';

export type { ProbeResult } from '../keeper/probe.js';

/** Probe `names` one after the other (every configured connection when omitted). */
export async function probe(d: ProbeDeps, names: string[] = [...d.connections.keys()]): Promise<ProbeResult[]> {
  const results: ProbeResult[] = [];
  for (const n of names) results.push(await probeConnection(d, n));
  return results;
}
