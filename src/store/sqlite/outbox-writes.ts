/**
 * Where the SQLite store's outbox and event writes run. For a file store, on the writer thread
 * (writer-thread.ts) once the outbox is first written to: its own connection commits groups of
 * writes there, so the fsync of a COMMIT never stalls this thread's sockets (SMTP sessions, the
 * HTTP API). Before that, for `:memory:`, or if the thread died, in-process through
 * {@link GroupCommit}. Payloads are sealed and opened here; the thread never sees the key.
 * Either way a write's promise settles only after its COMMIT. See docs/architecture.md.
 */
import type { NewEvent, WardenEvent } from '../../core/types.js';
import { aad, outboxFromRow } from '../codec.js';
import type { NewOutboxMessage, OutboxPatch, OutboxRecord } from '../types.js';
import type { Db } from './db.js';
import { appendEvent } from './flows.js';
import { GroupCommit } from './group-commit.js';
import * as outbox from './outbox.js';
import type { WriterInit } from './writer-protocol.js';
import { WriterThread } from './writer-thread.js';

type Claim = { owner: string; leaseMs: number };

export class OutboxWrites {
  private readonly group: GroupCommit;
  private thread: WriterThread | null = null;
  /** Null: never start a thread (`:memory:`, or one failed). */
  private init: WriterInit | null;

  constructor(
    private readonly db: Db,
    toError: (e: unknown) => Error,
    init: WriterInit | null,
  ) {
    this.group = new GroupCommit(db.raw, toError);
    this.init = init;
  }

  enqueue(msg: NewOutboxMessage, now: number, claim?: Claim): Promise<{ record: OutboxRecord; created: boolean }> {
    const thread = this.writer(true);
    if (!thread) return this.group.write(() => outbox.enqueueMessage(this.db, msg, now, claim));
    return thread
      .request(() => ({
        kind: 'enqueue',
        msg: { ...msg, payload: this.db.sealer.seal(msg.payload, aad('outbox', msg.id, 'payload')) },
        now,
        ...(claim ? { claim } : {}),
      }))
      .then(({ existing }) =>
        existing
          ? { record: outboxFromRow(this.db.sealer, existing), created: false }
          : { record: outbox.newRecord(msg, now, claim), created: true },
      );
  }

  claim(opts: outbox.ClaimOptions): Promise<OutboxRecord[]> {
    const thread = this.writer(true);
    if (!thread) return this.group.write(() => outbox.claimMessages(this.db, opts));
    return thread
      .request(() => ({ kind: 'claim', opts }))
      .then((rows) => rows.map((r) => outboxFromRow(this.db.sealer, r)));
  }

  update(id: string, patch: OutboxPatch, opts: { owner?: string }): Promise<OutboxRecord | null> {
    const thread = this.writer(true);
    if (!thread) return this.group.write(() => outbox.updateMessage(this.db, id, patch, opts));
    return thread
      .request(() => ({ kind: 'update', id, patch, opts }))
      .then((r) => (r ? outboxFromRow(this.db.sealer, r) : null));
  }

  /** Events ride with the outbox writes issued beside them (one commit). */
  event(event: NewEvent, now: number): Promise<WardenEvent> {
    const thread = this.writer(false);
    if (!thread) return this.group.write(() => appendEvent(this.db, event, now), true);
    return thread.request(() => ({ kind: 'event', event, now }));
  }

  /** Commit the in-process group now (the caller is about to take the write lock itself). */
  flushInProcess(): void {
    this.group.flush();
  }

  /** Run `fn` (a key rotation) once every accepted write has committed, holding new ones back. */
  quiesce<T>(fn: () => Promise<T>): Promise<T> {
    this.group.flush();
    return this.thread ? this.thread.quiesce(fn) : fn();
  }

  /**
   * Commit every accepted write (nothing is dropped) and stop the thread. Undefined when no
   * thread ran: everything is committed already.
   */
  close(): Promise<void> | undefined {
    this.group.flush();
    this.init = null;
    const thread = this.thread;
    this.thread = null;
    return thread?.close();
  }

  /** The running thread; with `start`, started now if it may be. Null: write in-process. */
  private writer(start: boolean): WriterThread | null {
    if (this.thread?.usable) return this.thread;
    if (!start || this.init === null || this.thread) return null;
    // What was accepted in-process commits first, so writes keep their order.
    this.group.flush();
    try {
      this.thread = new WriterThread(this.init, () => {
        this.init = null;
      });
    } catch {
      // No thread could start (no worker file, no loader for the sources): write in-process.
      this.init = null;
      return null;
    }
    return this.thread;
  }
}
