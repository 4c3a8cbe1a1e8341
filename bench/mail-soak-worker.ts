/**
 * Child process of `bench/mail.ts soak`: opens the shared SQLite store, first delivers whatever a
 * killed predecessor left in the outbox, then sends messages `from`..`total-1` through
 * `mailbox.send` (idempotency key `soak-<n>`, so re-sending one whose acknowledgement was lost
 * re-uses its outbox row), `concurrency` at a time, reporting `{t:'acked', n}` when send()
 * returned, and finally drains the outbox and reports `{t:'drained'}`. The parent kills it with
 * SIGKILL at a random instant.
 *
 *   fork('bench/mail-soak-worker.ts', [dir, smtpPort, offsetMs, from, total, concurrency])
 *   env TW_BENCH_KEY = base64 store key
 *
 * Its clock runs `offsetMs` ahead of real time; the parent raises the offset past the lease on
 * every restart, so rows a killed predecessor held are due at once.
 */
import { systemClock, type Clock } from '../src/core/clock.js';
import { buildService, openBenchStore, smtpRoute } from './mail-common.js';

const [dir, portArg, offsetArg, fromArg, totalArg, concArg] = process.argv.slice(2);
const offset = Number(offsetArg);
const clock: Clock = { now: () => Date.now() + offset, sleep: systemClock.sleep };
const send = (m: object): void => {
  process.send?.(m);
};
const store = await openBenchStore(dir as string, Buffer.from(process.env['TW_BENCH_KEY'] ?? '', 'base64'));
const svc = buildService({
  store,
  clock,
  tokens: { accessToken: () => Promise.reject(new Error('unused')) },
  owner: `soak-${process.pid}`,
  send: [smtpRoute(Number(portArg))],
  options: { leaseMs: 5_000, retry: { backoffBaseMs: 100, backoffMaxMs: 1_000 } },
});
const mailbox = svc.mailbox('agent');
send({ t: 'ready' });

await svc.deliverDue();
let next = Number(fromArg);
const total = Number(totalArg);
const lane = async (): Promise<void> => {
  while (next < total) {
    const n = next++;
    const r = await mailbox.send({
      to: 'bob@example.org',
      subject: `soak ${n}`,
      text: `soak message ${n}\n`,
      idempotencyKey: `soak-${n}`,
    });
    send({ t: 'acked', n, status: r.status });
  }
};
await Promise.all(Array.from({ length: Number(concArg ?? 1) }, lane));
for (;;) {
  const s = await store.outboxStats('agent');
  if (s.pending + s.sending === 0) break;
  if ((await svc.deliverDue()) === 0) await new Promise((r) => setTimeout(r, 20));
}
send({ t: 'drained' });
await svc.stop();
await store.close();
