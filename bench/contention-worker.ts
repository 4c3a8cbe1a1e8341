/**
 * One of N processes sharing a store (bench/refresh-contention.ts). Its clock is driven by the
 * coordinator over IPC so a 1-hour token lifetime passes in microseconds.
 */
import { FakeClock } from '../src/core/clock.js';
import { openWarden } from '../src/warden.js';

const [configPath] = process.argv.slice(2);
const clock = new FakeClock(Date.now());
const warden = await openWarden({ configPath: configPath as string, clock, leaseMs: 30_000 });
// Waiters poll the store on the fake clock; let real time pass between polls.
const realSleep = clock.sleep.bind(clock);
clock.sleep = async (ms, signal) => {
  await new Promise((r) => setTimeout(r, Math.min(ms, 5)));
  void realSleep;
  if (signal?.aborted) throw signal.reason as Error;
};

process.on('message', (msg: { t: number } | 'exit') => {
  if (msg === 'exit') {
    void warden.close().then(() => process.exit(0));
    return;
  }
  clock.set(msg.t);
  warden.accessToken('sandbox').then(
    (token) => process.send?.({ ok: true, token: token.slice(-8) }),
    (err: Error & { code?: string }) => process.send?.({ ok: false, error: err.code ?? err.message }),
  );
});
process.send?.('ready');
