/**
 * Change notification across handles: part of the Store contract (contract.ts). A second
 * handle on the same data stands for another process or node; `catchUpChanges` delivers what
 * it committed without waiting for a poll period, once per change, in commit order.
 */
import { describe, expect, it } from 'vitest';

import type { Store } from '../../src/store/types.js';
import { T } from './contract-fixtures.js';

export interface ChangeFeedFixture {
  store: Store;
  openWith?: (key: Buffer) => Promise<Store>;
  key: Buffer;
}

/** PostgreSQL starts its feed asynchronously; changes committed after this resolves are reported. */
async function feedReady(store: Store): Promise<void> {
  await (store as { changeFeedReady?: () => Promise<void> }).changeFeedReady?.();
}

export function changeFeedContract(get: () => ChangeFeedFixture): void {
  describe('change feed across handles', () => {
    it("reports another handle's inserts and updates once each, in commit order, and own writes once", async () => {
      const { store, openWith, key } = get();
      if (!openWith || !store.onConnectionChanged || !store.catchUpChanges) return;
      for (const name of ['alpha', 'mid', 'zeta']) await store.ensureConnection(name, T);
      const other = await openWith(key);
      const seen: string[] = [];
      const off = store.onConnectionChanged((name) => seen.push(name));
      try {
        await feedReady(store);
        // Commit order differs from both name order and insertion order.
        await other.updateConnection('zeta', { failureCount: 1 }, { now: T });
        await other.ensureConnection('beta', T);
        await other.updateConnection('alpha', { accessToken: 'at-2' }, { now: T });
        await store.catchUpChanges();
        expect(seen).toEqual(['zeta', 'beta', 'alpha']);

        await store.catchUpChanges();
        expect(seen).toHaveLength(3); // nothing new: nothing repeated

        await store.updateConnection('mid', { failureCount: 2 }, { now: T }); // told at once
        expect(seen).toEqual(['zeta', 'beta', 'alpha', 'mid']);
        await other.updateConnection('zeta', { failureCount: 3 }, { now: T });
        await other.acquireRefreshLease('alpha', 'B', 1000, T); // not a data change
        await store.catchUpChanges();
        expect(seen).toEqual(['zeta', 'beta', 'alpha', 'mid', 'zeta']); // own write not repeated
      } finally {
        off();
        await other.close();
      }
    });
  });
}
