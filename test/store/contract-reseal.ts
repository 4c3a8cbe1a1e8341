/**
 * Key rotation: `Store.reseal`. Part of the Store contract (contract.ts). Every sealed value —
 * connection tokens, flow verifiers/device codes/nonces, queued mail, the key check — moves to
 * the new key in one transaction, read a page at a time; the old key no longer opens the store.
 */
import { describe, expect, it } from 'vitest';

import { KeyError } from '../../src/core/errors.js';
import { createSealer, generateKey } from '../../src/store/index.js';
import type { Sealer, Store } from '../../src/store/types.js';
import { newFlow, newMessage, rejection, T } from './contract-fixtures.js';

export interface ResealFixture {
  store: Store;
  /** Open another handle on the same data with `key` (absent for a private in-memory store). */
  openWith?: (key: Buffer) => Promise<Store>;
  /** The key the store was created with. */
  key: Buffer;
}

const NAMES = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];

/** Seven connections (one with no secrets), three flows (one with a device code), two messages. */
async function fill(store: Store): Promise<number> {
  let sealed = 1; // the key check
  for (const name of NAMES) {
    await store.ensureConnection(name, T);
    if (name === 'g') continue;
    await store.updateConnection(
      name,
      { accessToken: `at-${name}`, refreshToken: `rt-${name}`, ...(name === 'a' ? { idToken: 'id-a' } : {}) },
      { now: T },
    );
    sealed += name === 'a' ? 3 : 2;
  }
  await store.createFlow(newFlow('f1'));
  await store.createFlow(newFlow('f2', { state: null, nonce: null }));
  await store.createFlow(
    newFlow('f3', { kind: 'device_code', state: null, codeVerifier: null, nonce: null, deviceCode: 'dc-f3' }),
  );
  sealed += 2 + 1 + 1;
  await store.enqueueMessage(newMessage('m1'), T);
  await store.enqueueMessage(newMessage('m2'), T);
  sealed += 2;
  return sealed;
}

async function expectEverything(store: Store): Promise<void> {
  for (const name of NAMES) {
    const c = await store.getConnection(name);
    expect(c).toMatchObject(
      name === 'g'
        ? { accessToken: null, refreshToken: null, idToken: null }
        : { accessToken: `at-${name}`, refreshToken: `rt-${name}`, idToken: name === 'a' ? 'id-a' : null },
    );
  }
  expect(await store.getFlow('f1')).toMatchObject({ codeVerifier: 'verifier-f1', nonce: 'nonce-f1', deviceCode: null });
  expect(await store.getFlow('f2')).toMatchObject({ codeVerifier: 'verifier-f2', nonce: null });
  expect(await store.getFlow('f3')).toMatchObject({ deviceCode: 'dc-f3', codeVerifier: null });
  expect((await store.getMessage('m1'))?.payload).toBe(newMessage('m1').payload);
  expect((await store.getMessage('m2'))?.payload).toBe(newMessage('m2').payload);
  await expect(store.checkKey?.()).resolves.toBeUndefined();
}

/** A sealer that fails on its `n`-th seal: a re-seal that breaks half-way. */
function failingAfter(n: number, inner: Sealer): Sealer {
  let seals = 0;
  return {
    seal(plaintext, ad) {
      if (++seals === n) throw new Error('disk full (simulated)');
      return inner.seal(plaintext, ad);
    },
    open: (sealed, ad) => inner.open(sealed, ad),
  };
}

export function resealContract(fx: () => ResealFixture): void {
  describe('reseal (key rotation)', () => {
    it('re-seals every sealed value, page by page; the handle goes on with the new key and the old one opens nothing', async () => {
      const { store, openWith, key } = fx();
      const expected = await fill(store);
      const newKey = generateKey();
      // Two rows a page: every table spans several pages, the last one partly filled.
      expect(await store.reseal(createSealer(newKey), { pageRows: 2 })).toBe(expected);
      await expectEverything(store);
      // Writes after the rotation use the new key.
      await store.updateConnection('g', { accessToken: 'at-g-after' }, { now: T + 1 });
      await store.enqueueMessage(newMessage('m3'), T + 1);
      if (!openWith) return;
      const err = await rejection(openWith(key));
      expect(err).toBeInstanceOf(KeyError);
      const again = await openWith(newKey);
      try {
        expect((await again.getConnection('g'))?.accessToken).toBe('at-g-after');
        expect((await again.getMessage('m3'))?.payload).toBe(newMessage('m3').payload);
        await again.updateConnection('g', { accessToken: null }, { now: T + 2 });
        await expectEverything(again);
      } finally {
        await again.close();
      }
    });

    it('is all or nothing: a failure half-way changes nothing and the old key still opens everything', async () => {
      const { store, openWith, key } = fx();
      await fill(store);
      const newKey = generateKey();
      // The 9th value of 20: connections re-sealed in part (pages of 3 written), the rest not yet.
      await expect(store.reseal(failingAfter(9, createSealer(newKey)), { pageRows: 3 })).rejects.toThrow(/disk full/);
      await expectEverything(store);
      if (!openWith) return;
      await expect(openWith(newKey)).rejects.toBeInstanceOf(KeyError);
      const again = await openWith(key);
      try {
        await expectEverything(again);
      } finally {
        await again.close();
      }
    });

    it('refuses, changing nothing, when a stored value does not open with the current key', async () => {
      const { store, openWith } = fx();
      await fill(store);
      if (!openWith) return;
      // Another handle re-seals under a key this one does not know: this one's key is stale.
      const other = await openWith(fx().key);
      const k2 = generateKey();
      await other.reseal(createSealer(k2));
      await other.close();
      const err = await rejection(store.reseal(createSealer(generateKey())));
      expect(err).toBeInstanceOf(KeyError);
      const again = await openWith(k2);
      try {
        await expectEverything(again);
      } finally {
        await again.close();
      }
    });
  });
}
