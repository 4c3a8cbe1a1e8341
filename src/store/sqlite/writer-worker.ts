/**
 * The SQLite writer thread's body (started by writer-thread.ts): its own connection to the
 * store's file (WAL, the store's `synchronous` level), running the outbox and event writes it is
 * sent as group commits. While one COMMIT waits for its fsync, the requests that arrive queue up
 * and go into the next one — no timers, and the main thread's event loop never waits on a disk.
 * Payloads arrive sealed and leave sealed: this thread holds no key. See docs/architecture.md.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type { Sealer } from '../types.js';
import { Db } from './db.js';
import { appendEvent } from './flows.js';
import { commitBatch } from './group-commit.js';
import { claimRows, enqueueRow, updateRow } from './outbox.js';
import type { WriteOp, WriterInit, WriterReply, WriterRequest } from './writer-protocol.js';
import { toWire } from './writer-protocol.js';

const NO_KEY: Sealer = {
  seal: () => {
    throw new Error('the SQLite writer thread holds no key');
  },
  open: () => {
    throw new Error('the SQLite writer thread holds no key');
  },
};

function apply(db: Db, op: WriteOp): unknown {
  switch (op.kind) {
    case 'enqueue':
      return enqueueRow(db, op.msg, op.now, op.claim);
    case 'claim':
      return claimRows(db, op.opts);
    case 'update':
      return updateRow(db, op.id, op.patch, op.opts);
    case 'event':
      return appendEvent(db, op.event, op.now);
    case 'drain':
    case 'close':
      return null;
  }
}

function main(port: NonNullable<typeof parentPort>, init: WriterInit): void {
  const raw = new Database(init.file, { timeout: init.busyTimeoutMs });
  raw.pragma('journal_mode = WAL');
  raw.pragma(`synchronous = ${init.synchronous}`);
  const db = new Db(raw, NO_KEY);
  let queue: WriterRequest[] = [];
  let scheduled = false;

  const flush = (): void => {
    scheduled = false;
    const batch = queue;
    queue = [];
    const results = commitBatch(
      raw,
      batch.map((r) => () => apply(db, r.op)),
      (e) => e as Error,
    );
    const replies: WriterReply[] = batch.map((r, i) => {
      const res = results[i];
      return res?.ok ? { id: r.id, ok: true, value: res.value } : { id: r.id, ok: false, error: toWire(res?.error) };
    });
    port.postMessage(replies);
    if (batch.some((r) => r.op.kind === 'close')) {
      db.close();
      port.close();
    }
  };

  port.on('message', (requests: WriterRequest[]) => {
    queue.push(...requests);
    if (!scheduled) {
      scheduled = true;
      // Every request delivered in this turn joins the group.
      setImmediate(flush);
    }
  });
}

if (parentPort) main(parentPort, workerData as WriterInit);
