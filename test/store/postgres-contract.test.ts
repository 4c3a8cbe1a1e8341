/**
 * The shared store contract (test/store/contract.ts), unchanged, on PostgreSQL: one throwaway
 * cluster for this file and a fresh database per test.
 */
import { afterAll, beforeAll } from 'vitest';

import { generateKey } from '../../src/store/key.js';
import { openStore } from '../../src/store/open-store.js';
import { startPostgres, type PostgresPeer } from '../peers/postgres.js';
import { runStoreContract } from './contract.js';

let peer: PostgresPeer;
beforeAll(async () => {
  peer = await startPostgres();
});
afterAll(async () => {
  await peer?.stop();
});

runStoreContract('postgres', async () => {
  const url = await peer.createDatabase('contract');
  const key = generateKey();
  const open = (k = key) => openStore(url, { key: k, keySpec: 'env:TW_TEST_KEY', baseDir: '/' });
  return { store: await open(), reopen: () => open(), key, openWith: open, cleanup: () => Promise.resolve() };
});
