/**
 * Child process of bench/crash.ts (and test/stress/crash.test.ts): does one kind of work in a
 * loop on a shared SQLite store until it is killed with SIGKILL.
 *
 *   refresh  force-refresh `sandbox` (rotating refresh tokens) forever; reports the window
 *            between the provider's answer and the commit of the new tokens
 *   flow     complete the flow whose redirect URL the parent sends
 *   mail     enqueue numbered messages and deliver the outbox over SMTP forever
 *
 * Its clock runs `offsetMs` ahead of real time, so leases held by a killed predecessor have
 * expired when it starts (each restart gets a larger offset).
 */
import { systemClock, type Clock } from '../src/core/clock.js';
import { createMailService } from '../src/mail/index.js';
import { createHttpFetch } from '../src/oauth/http-client.js';
import { openWarden, partsOf } from '../src/warden.js';

const [mode, configPath, offsetArg] = process.argv.slice(2);
const offset = Number(offsetArg ?? 0);
const clock: Clock = { now: () => Date.now() + offset, sleep: systemClock.sleep };
const send = (m: object): void => {
  process.send?.(m);
};

let answeredAt = 0;
// Provider requests go through the product's own client (as the daemon's do), timed around it.
const providerClient = createHttpFetch();
const fetchSpy: typeof fetch = async (url, init) => {
  const res = await providerClient(url, init);
  if (String(url).endsWith('/token')) {
    answeredAt = performance.now();
    send({ t: 'answered' });
  }
  return res;
};

const warden = await openWarden({
  configPath: configPath as string,
  clock,
  providerFetch: fetchSpy,
  leaseMs: 5_000,
});
const update = partsOf(warden).store.updateConnection.bind(partsOf(warden).store);
partsOf(warden).store.updateConnection = async (...a) => {
  const r = await update(...a);
  if (answeredAt > 0 && a[1].accessToken !== undefined) {
    send({ t: 'committed', windowMs: performance.now() - answeredAt });
    answeredAt = 0;
  }
  return r;
};

if (mode === 'refresh') {
  send({ t: 'ready' });
  for (;;) {
    try {
      await partsOf(warden).keeper.forceRefresh('sandbox');
      send({ t: 'refreshed' });
    } catch (e) {
      send({ t: 'error', code: (e as { code?: string }).code ?? String(e) });
      await new Promise((r) => setTimeout(r, 50));
    }
  }
} else if (mode === 'flow') {
  process.on('message', (m: { complete?: string }) => {
    if (!m.complete) return;
    partsOf(warden)
      .flows.completeFromInput(m.complete, { via: 'crash-bench' })
      .then(
        () => send({ t: 'completed' }),
        (e: unknown) => send({ t: 'error', code: (e as { code?: string }).code ?? String(e) }),
      );
  });
  send({ t: 'ready' });
} else if (mode === 'mail') {
  const svc = createMailService({
    config: warden.config,
    store: partsOf(warden).store,
    tokens: partsOf(warden).keeper,
    clock,
    logger: partsOf(warden).deps.logger,
    events: partsOf(warden).sink,
    owner: `crash-${process.pid}`,
    options: { leaseMs: 5_000 },
  });
  const mailbox = svc.mailbox('agent');
  let seq = Number(process.argv[5] ?? 0);
  send({ t: 'ready' });
  for (;;) {
    const n = seq++;
    try {
      await mailbox.send({
        to: 'bob@example.org',
        subject: `crash ${n}`,
        text: `message ${n}`,
        idempotencyKey: `crash-${n}`,
      });
      send({ t: 'enqueued', n });
      await svc.deliverDue();
    } catch (e) {
      send({ t: 'error', code: (e as { code?: string }).code ?? String(e) });
    }
  }
}
