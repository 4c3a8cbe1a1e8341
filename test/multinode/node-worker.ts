/**
 * One node of a multi-node deployment, as a child process (`node --import tsx`): a warden on
 * the shared PostgreSQL store whose clock the test drives over IPC, so hours pass in
 * microseconds. Requests: `{ id, op, t, ... }` → reply `{ id, ok, value | error }`.
 *
 * Waiting for another node's lease polls the store on real time (5 ms), as in
 * bench/contention-worker.ts: the fake clock only moves when the test says so.
 */
import { FakeClock } from '../../src/core/clock.js';
import { openWarden, partsOf } from '../../src/warden.js';

const [configPath, owner] = process.argv.slice(2) as [string, string];
const clock = new FakeClock(Date.now());
clock.sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    setTimeout(resolve, Math.min(ms, 5));
  });
const warden = await openWarden({ configPath, clock, owner, leaseMs: 30_000 });

type Request =
  | { id: number; op: 'token'; t: number; conn: string }
  | { id: number; op: 'open'; t: number; conn: string }
  | { id: number; op: 'complete'; t: number; input: string }
  | { id: number; op: 'lease'; t: number; key: string; ttlMs: number }
  | { id: number; op: 'refreshes'; t: number }
  | { id: number; op: 'settle'; t: number }
  | { id: number; op: 'exit'; t: number };

async function handle(req: Request): Promise<unknown> {
  clock.set(req.t);
  switch (req.op) {
    case 'token':
      return warden.accessToken(req.conn);
    case 'open': {
      const f = await partsOf(warden).flows.open(req.conn, { fresh: true });
      return { id: f.id, url: f.url };
    }
    case 'complete':
      return partsOf(warden).flows.completeFromInput(req.input, { via: owner });
    case 'lease':
      return partsOf(warden).store.acquireLease(req.key, owner, req.ttlMs, req.t);
    case 'refreshes':
      return partsOf(warden).keeper.refreshCount;
    case 'settle':
      // Report (and act on) every change committed so far, as a caller about to rely on its cache.
      await partsOf(warden).store.catchUpChanges?.();
      return null;
    case 'exit':
      await warden.close();
      setImmediate(() => process.exit(0));
      return null;
  }
}

process.on('message', (req: Request) => {
  handle(req).then(
    (value) => process.send?.({ id: req.id, ok: true, value }),
    (err: Error & { code?: string }) =>
      process.send?.({ id: req.id, ok: false, error: `${err.code ?? err.name}: ${err.message}` }),
  );
});
process.send?.({ ready: true });
