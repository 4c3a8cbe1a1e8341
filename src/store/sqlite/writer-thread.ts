/**
 * The main-thread side of the SQLite writer thread (writer-worker.ts): posts write requests and
 * settles each promise when the thread answers, after its COMMIT. better-sqlite3 is synchronous,
 * so a COMMIT's fsync made here would stall every socket of the process; made there, it does not.
 * See docs/architecture.md.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { StoreError } from '../../core/errors.js';
import type { WriteOp, WriteValue, WriterInit, WriterReply, WriterRequest } from './writer-protocol.js';
import { fromWire } from './writer-protocol.js';

interface Waiter {
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

/**
 * Start the writer thread. Built (dist/), it is writer-worker.js beside this file; run from the
 * TypeScript sources (tests, tsx), a small bootstrap loads writer-worker.ts through tsx, since a
 * worker does not inherit the parent's module hooks on every Node version.
 */
function startWorker(init: WriterInit): Worker {
  const here = import.meta.url;
  if (!here.endsWith('.ts')) return new Worker(new URL('./writer-worker.js', here), { workerData: init });
  const tsx = pathToFileURL(
    createRequire(here)
      .resolve('tsx/esm/api')
      .replace(/\.cjs$/, '.mjs'),
  ).href;
  const entry = new URL('./writer-worker.ts', here).href;
  const bootstrap = `const { workerData } = require('node:worker_threads');
import(workerData.tsx).then((api) => api.tsImport(workerData.entry, workerData.entry));`;
  return new Worker(bootstrap, { eval: true, workerData: { ...init, tsx, entry } });
}

export class WriterThread {
  private readonly worker: Worker;
  private nextId = 1;
  private readonly waiting = new Map<number, Waiter>();
  /** Requests of this turn, posted together. */
  private outgoing: WriterRequest[] = [];
  /** While paused: requests not built yet (they are sealed when built). */
  private held: Array<() => void> | null = null;
  private failure: Error | null = null;
  private closing: Promise<void> | null = null;

  constructor(
    init: WriterInit,
    /** Called once if the thread dies; the store then writes in-process. */
    private readonly onFailure: (e: Error) => void,
  ) {
    this.worker = startWorker(init);
    this.worker.unref();
    this.worker.on('message', (replies: WriterReply[]) => this.settle(replies));
    this.worker.on('error', (e) => this.fail(e));
    this.worker.on('exit', (code) => {
      if (this.waiting.size > 0 || (!this.closing && code !== 0))
        this.fail(new Error(`the thread exited with code ${code}`));
    });
  }

  /** True until the thread failed or was closed: requests may be sent. */
  get usable(): boolean {
    return this.failure === null && this.closing === null;
  }

  /**
   * Send the write `build()` returns — built when sent, so while {@link quiesce} runs it is held
   * and built afterwards (sealed with the key then current). Settles after its COMMIT.
   */
  request<K extends WriteOp['kind']>(build: () => WriteOp & { kind: K }): Promise<WriteValue[K]> {
    return new Promise<WriteValue[K]>((resolve, reject) => {
      const held = this.held;
      if (held) held.push(() => this.send(build, resolve as (v: unknown) => void, reject));
      else this.send(build, resolve as (v: unknown) => void, reject);
    });
  }

  /** Run `fn` with no write of this thread in flight or starting (a key rotation). */
  async quiesce<T>(fn: () => Promise<T>): Promise<T> {
    if (this.held || !this.usable) return fn();
    const held: Array<() => void> = [];
    this.held = held;
    try {
      if (this.waiting.size > 0) {
        await new Promise((resolve, reject) => this.send(() => ({ kind: 'drain' }), resolve, reject));
      }
      return await fn();
    } finally {
      this.held = null;
      for (const send of held) send();
    }
  }

  /** Commit everything sent, close the thread's connection and end it. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.failure) return;
      this.worker.ref(); // until it has exited: nothing else may keep this process alive meanwhile
      const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
      await this.request(() => ({ kind: 'close' })).catch(() => undefined);
      await exited;
    })();
    return this.closing;
  }

  private send(build: () => WriteOp, resolve: (v: unknown) => void, reject: (e: unknown) => void): void {
    if (this.failure) return reject(this.failure);
    let op: WriteOp;
    try {
      op = build();
    } catch (e) {
      return reject(e);
    }
    const id = this.nextId++;
    if (this.waiting.size === 0) this.worker.ref(); // an awaited write keeps the process alive
    this.waiting.set(id, { resolve, reject });
    if (this.outgoing.length === 0) queueMicrotask(() => this.post());
    this.outgoing.push({ id, op });
  }

  private post(): void {
    const batch = this.outgoing;
    this.outgoing = [];
    if (batch.length > 0 && !this.failure) this.worker.postMessage(batch);
  }

  private settle(replies: WriterReply[]): void {
    for (const r of replies) {
      const w = this.waiting.get(r.id);
      if (!w) continue;
      this.waiting.delete(r.id);
      if (r.ok) w.resolve(r.value);
      else w.reject(fromWire(r.error));
    }
    if (this.waiting.size === 0 && !this.closing) this.worker.unref();
  }

  private fail(e: Error): void {
    if (this.failure) return;
    this.failure = new StoreError(`SQLite writer thread failed: ${e.message}`, { cause: e });
    for (const w of this.waiting.values()) w.reject(this.failure);
    this.waiting.clear();
    this.worker.unref();
    this.onFailure(this.failure);
  }
}
