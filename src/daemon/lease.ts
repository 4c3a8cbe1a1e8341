/**
 * Who holds the store: a running daemon keeps a short lease row (`daemon`) renewed while it
 * runs, so other processes can tell it is there without asking its HTTP API — `connect` then
 * leaves chat listening to the daemon (one Telegram poller per bot), `rotate-key` refuses.
 * Several daemons on one store share the row: one holds it, the others take it over within
 * one renewal after it ends.
 */
import type { LeaderLease } from '../channels/types.js';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { Store } from '../store/types.js';

/** What the daemon's leases use. */
export interface LeaseDeps {
  store: Pick<Store, 'acquireLease' | 'releaseLease'>;
  deps: { clock: Clock; owner: string; logger: Logger };
}

export const DAEMON_LEASE_KEY = 'daemon';
/** The lease outlives a missed renewal or two; a crashed daemon stops counting after this. */
export const DAEMON_LEASE_MS = 45_000;
const RENEW_MS = 15_000;

/** Keep the daemon lease while running; `stop()` releases it. Renewal runs on real time (unref'd). */
export function holdDaemonLease(warden: LeaseDeps): { stop(): Promise<void> } {
  const { store } = warden;
  const { clock, owner, logger } = warden.deps;
  const renew = (): Promise<void> =>
    store.acquireLease(DAEMON_LEASE_KEY, owner, DAEMON_LEASE_MS, clock.now()).then(
      () => undefined,
      (err: unknown) => logger.warn('daemon lease renewal failed', { error: (err as Error).message }),
    );
  let pending = renew();
  const timer = setInterval(() => {
    pending = pending.then(renew);
  }, RENEW_MS);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await pending;
      await store.releaseLease(DAEMON_LEASE_KEY, owner).catch(() => undefined);
    },
  };
}

/** The running daemon's lease, or null when no daemon holds this store. */
export async function runningDaemon(store: Store, now: number): Promise<{ owner: string; until: number } | null> {
  const lease = await store.getLease(DAEMON_LEASE_KEY);
  return lease && lease.until > now ? lease : null;
}

/** One getUpdates poller per bot among processes sharing a store (a lease row). */
export function telegramLease(warden: LeaseDeps, botId: string, ttlMs: number): LeaderLease {
  const key = `telegram:${botId}`;
  return {
    acquire: () => warden.store.acquireLease(key, warden.deps.owner, ttlMs, warden.deps.clock.now()),
    release: () => warden.store.releaseLease(key, warden.deps.owner),
  };
}
