/**
 * One node of bench/multinode.ts: a warden over N generated connections on a shared store, its
 * clock driven by the coordinator over IPC. Ops: `sweep` (get a token for every connection of
 * its share, refreshing what is due) and `reads` (cached token reads for a while).
 */
import { FakeClock } from '../src/core/clock.js';
import { openWarden, partsOf } from '../src/warden.js';

const [store, tokenUrl, countArg, owner] = process.argv.slice(2) as [string, string, string, string];
const count = Number(countArg);
const names = Array.from({ length: count }, (_, i) => `c${String(i).padStart(6, '0')}`);
const clock = new FakeClock(0);
clock.sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.min(ms, 5)));
const connections = Object.fromEntries(
  names.map((n) => [
    n,
    {
      provider: 'oauth2',
      auth_url: `${tokenUrl}/authorize`,
      token_url: tokenUrl,
      client_id: 'bench',
      client_secret: 's',
      scopes: [],
    },
  ]),
);
const warden = await openWarden({
  config: { store, key: 'env:TW_BENCH_KEY', connections },
  baseDir: process.env['TW_BENCH_DIR'] ?? process.cwd(),
  clock,
  owner,
  leaseMs: 30_000,
});

async function sweep(
  t: number,
  part: number,
  parts: number,
  concurrency: number,
): Promise<{ ms: number; errors: string[] }> {
  clock.set(t);
  const mine = names.filter((_, i) => i % parts === part);
  const errors: string[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < mine.length) {
        const name = mine[next++] as string;
        await warden.tokenInfo(name).catch((e: Error) => errors.length < 5 && errors.push(e.message));
      }
    }),
  );
  return { ms: performance.now() - started, errors };
}

async function reads(t: number, ms: number): Promise<{ reads: number; seconds: number }> {
  clock.set(t);
  let n = 0;
  let i = Math.floor(Math.random() * count);
  const started = performance.now();
  const until = started + ms;
  while (performance.now() < until) {
    for (let k = 0; k < 1000; k++) {
      await warden.accessToken(names[i] as string);
      i = (i + 7919) % count;
      n++;
    }
  }
  return { reads: n, seconds: (performance.now() - started) / 1000 };
}

process.on(
  'message',
  (m: { id: number; op: string; t: number; part?: number; parts?: number; concurrency?: number; ms?: number }) => {
    const run = async (): Promise<unknown> => {
      if (m.op === 'sweep') return sweep(m.t, m.part ?? 0, m.parts ?? 1, m.concurrency ?? 32);
      if (m.op === 'reads') return reads(m.t, m.ms ?? 3_000);
      if (m.op === 'refreshes') return partsOf(warden).keeper.refreshCount;
      await warden.close();
      setImmediate(() => process.exit(0));
      return null;
    };
    run().then(
      (value) => process.send?.({ id: m.id, ok: true, value }),
      (e: Error) => process.send?.({ id: m.id, ok: false, error: e.message }),
    );
  },
);
process.send?.({ ready: true });
