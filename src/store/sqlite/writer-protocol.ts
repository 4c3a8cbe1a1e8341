/**
 * Messages between the SQLite store and its writer thread (writer-thread.ts, writer-worker.ts).
 * Payloads cross sealed: the writer thread never holds the key.
 */
import { ConflictError, StoreError, TokenwardenError } from '../../core/errors.js';
import type { NewEvent, WardenEvent } from '../../core/types.js';
import type { OutboxRow } from '../codec.js';
import type { NewOutboxMessage, OutboxPatch } from '../types.js';
import type { ClaimOptions } from './outbox.js';

export type WriteOp =
  /** `msg.payload` is sealed. */
  | { kind: 'enqueue'; msg: NewOutboxMessage; now: number; claim?: { owner: string; leaseMs: number } }
  | { kind: 'claim'; opts: ClaimOptions }
  | { kind: 'update'; id: string; patch: OutboxPatch; opts: { owner?: string } }
  | { kind: 'event'; event: NewEvent; now: number }
  /** Answers once every write sent before it has committed. */
  | { kind: 'drain' }
  /** Commit what is queued, close the connection, end the thread. */
  | { kind: 'close' };

/** What each kind of write answers. */
export interface WriteValue {
  enqueue: { existing: OutboxRow | null };
  claim: OutboxRow[];
  update: OutboxRow | null;
  event: WardenEvent;
  drain: null;
  close: null;
}

export interface WriterRequest {
  id: number;
  op: WriteOp;
}

export interface WireError {
  conflict: boolean;
  message: string;
}

export type WriterReply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: WireError };

/** Options the writer thread opens the store's file with. */
export interface WriterInit {
  file: string;
  synchronous: 'FULL' | 'NORMAL';
  busyTimeoutMs: number;
}

/** An error as it crosses the thread boundary: SQLite messages never contain bound values. */
export function toWire(e: unknown): WireError {
  const message = e instanceof Error ? e.message : String(e);
  if (e instanceof ConflictError) return { conflict: true, message };
  return { conflict: false, message: e instanceof TokenwardenError ? message : `SQLite store: ${message}` };
}

export function fromWire(e: WireError): Error {
  return e.conflict ? new ConflictError(e.message) : new StoreError(e.message);
}
