/**
 * The SQLite store's writer thread (outbox rows and events committed off the main thread): a write
 * waiting for the database does not stall the event loop; a key rotation while writes are in
 * flight loses none and leaves none sealed with the old key.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';

import { KeyError } from '../../src/core/errors.js';
import { createSealer, generateKey, SqliteStore } from '../../src/store/index.js';
import { newMessage, rejection, T } from './contract-fixtures.js';

const root = mkdtempSync(join(tmpdir(), 'tw-writer-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('SQLite writer thread', () => {
  it('an outbox write waiting for the write lock leaves the event loop free, and commits once it is free', async () => {
    // In-process, better-sqlite3 would wait for the lock (as for an fsync) on this thread: no
    // timer could fire until the busy timeout ran out.
    const file = join(root, 'lock.db');
    const store = SqliteStore.open(file, { sealer: createSealer(generateKey()), keySpec: 'test', busyTimeoutMs: 5000 });
    try {
      await store.enqueueMessage(newMessage('warm'), T);
      const other = new Database(file);
      other.exec('BEGIN IMMEDIATE'); // another writer holds the lock
      const write = store.enqueueMessage(newMessage('waits'), T);
      const event = store.appendEvent({ type: 'mail_queued', connection: null, message: 'queued', data: null }, T);
      let settled = false;
      void Promise.allSettled([write, event]).then(() => (settled = true));
      const t0 = performance.now();
      await new Promise((resolve) => setTimeout(resolve, 100));
      const late = performance.now() - t0 - 100;
      expect(late).toBeLessThan(1000);
      expect(settled).toBe(false); // nothing answers before its commit
      other.exec('COMMIT');
      other.close();
      await expect(write).resolves.toMatchObject({ created: true });
      await expect(event).resolves.toMatchObject({ type: 'mail_queued' });
      expect(await store.getMessage('waits')).toMatchObject({ status: 'pending' });
    } finally {
      await store.close();
    }
  });

  it('a key rotation while outbox writes are in flight: none lost, every row opens with the new key only', async () => {
    const file = join(root, 'rotate.db');
    const oldKey = generateKey();
    const newKey = generateKey();
    const store = SqliteStore.open(file, { sealer: createSealer(oldKey), keySpec: 'test' });
    await store.enqueueMessage(newMessage('warm'), T); // the thread is running
    const before = Array.from({ length: 30 }, (_, i) => store.enqueueMessage(newMessage(`b${i}`), T));
    const events = Array.from({ length: 10 }, (_, i) =>
      store.appendEvent({ type: 'mail_queued', connection: null, message: `queued b${i}`, data: null }, T),
    );
    const rotation = store.reseal(createSealer(newKey));
    const after = Array.from({ length: 30 }, (_, i) => store.enqueueMessage(newMessage(`a${i}`), T));
    await Promise.all([...before, ...events, ...after]);
    expect(await rotation).toBeGreaterThanOrEqual(1 + 31);
    await store.close();

    await expect(
      rejection(
        Promise.resolve().then(() => SqliteStore.open(file, { sealer: createSealer(oldKey), keySpec: 'test' })),
      ),
    ).resolves.toBeInstanceOf(KeyError);
    const reopened = SqliteStore.open(file, { sealer: createSealer(newKey), keySpec: 'test' });
    try {
      const rows = await reopened.listMessages({ limit: 1000 });
      expect(rows).toHaveLength(61);
      for (const r of rows) expect(r.payload).toBe(newMessage(r.id).payload);
      expect(await reopened.listEvents({ limit: 100 })).toHaveLength(10);
    } finally {
      await reopened.close();
    }
  });
});
