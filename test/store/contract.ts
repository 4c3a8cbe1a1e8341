/**
 * The contract every {@link Store} implementation must pass. Run it with a
 * factory that returns a fresh, empty store per test:
 *
 *   runStoreContract('sqlite', async () => ({ store, reopen, cleanup }));
 *
 * `reopen` (optional) closes nothing itself: it opens a second handle on the same data after the
 * suite has closed the first, to prove persistence. Times are parameters: no test sleeps.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import type { Store } from '../../src/store/types.js';
import { changeFeedContract } from './contract-change-feed.js';
import { connectionContract } from './contract-connections.js';
import { flowAndEventContract } from './contract-flows.js';
import { CAUSE, newFlow, newMessage, T } from './contract-fixtures.js';
import { outboxAndLeaseContract } from './contract-outbox.js';
import { resealContract } from './contract-reseal.js';

export interface StoreFixture {
  store: Store;
  reopen?: () => Promise<Store>;
  /** The key the store was created with. */
  key: Buffer;
  /** Open another handle on the same data with another key (absent for a private in-memory store). */
  openWith?: (key: Buffer) => Promise<Store>;
  cleanup: () => Promise<void>;
}

export function runStoreContract(label: string, factory: () => Promise<StoreFixture>): void {
  describe(`Store contract: ${label}`, () => {
    let fx: StoreFixture;
    let store: Store;
    let closed = false;

    beforeEach(async () => {
      fx = await factory();
      store = fx.store;
      closed = false;
    });
    afterEach(async () => {
      if (!closed) await store.close();
      await fx.cleanup();
    });

    connectionContract(() => store);
    flowAndEventContract(() => store);
    outboxAndLeaseContract(() => store);
    changeFeedContract(() => ({
      store,
      key: fx.key,
      ...(fx.openWith !== undefined ? { openWith: fx.openWith } : {}),
    }));
    resealContract(() => ({
      store,
      key: fx.key,
      ...(fx.openWith !== undefined ? { openWith: fx.openWith } : {}),
    }));

    it('checkKey: the key this handle was opened with still opens the key-check record', async () => {
      expect(store.checkKey).toBeTypeOf('function');
      await expect(store.checkKey?.()).resolves.toBeUndefined();
    });

    describe('persistence', () => {
      it('keeps everything across close and reopen', async () => {
        if (!fx.reopen) return;
        await store.ensureConnection('gmail', T);
        await store.updateConnection('gmail', { refreshToken: 'rt-persist', cause: CAUSE }, { now: T });
        await store.createFlow(newFlow('f1'));
        const ev = await store.appendEvent({ type: 'authorized', connection: 'gmail', message: 'ok', data: null }, T);
        await store.enqueueMessage(newMessage('m1'), T);
        await store.acquireLease('leader', 'A', 10_000, T);
        const before = await store.getConnection('gmail');
        await store.close();
        closed = true;

        store = await fx.reopen();
        closed = false;
        expect(await store.getConnection('gmail')).toEqual(before);
        expect(await store.findFlowByState('state-f1')).toMatchObject({ id: 'f1', codeVerifier: 'verifier-f1' });
        expect(await store.listEvents()).toEqual([ev]);
        expect((await store.getMessage('m1'))?.payload).toBe(newMessage('m1').payload);
        expect(await store.getLease('leader')).toEqual({ owner: 'A', until: T + 10_000 });
        const next = await store.appendEvent({ type: 'probe_ok', connection: null, message: 'x', data: null }, T);
        expect(next.id).toBeGreaterThan(ev.id);
      });
    });
  });
}
