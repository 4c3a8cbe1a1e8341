/**
 * Request bodies for the API proxy (integrations/api-proxy.ts): held in memory up to
 * {@link REPLAY_BYTES} so a 401 can be retried with them, streamed beyond, never past
 * `api_proxy.max_request_bytes`.
 */
import type { Readable } from 'node:stream';
import { TokenwardenError } from '../core/errors.js';

/** Request bodies up to this size are held in memory so a 401 can be retried with them. */
export const REPLAY_BYTES = 1024 * 1024;

/** A body too large to hold: streamed upstream once, its size checked on the way. */
export interface StreamedBody {
  stream: AsyncIterable<Uint8Array>;
  /** The caller's declared Content-Length, passed upstream as is (undefined: chunked). */
  length: number | undefined;
  /**
   * Read and drop what the upstream did not take (it answered before reading all of it), so the
   * caller, still sending, gets its answer on the same connection.
   */
  drain?: () => void;
}

/** Read a request body up to `max` bytes (TW_TOO_LARGE beyond). */
export async function readLimited(
  body: ReadableStream<Uint8Array> | null,
  max: number,
): Promise<Uint8Array<ArrayBuffer> | null> {
  if (!body) return null;
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => undefined);
      throw new TokenwardenError(
        'TW_TOO_LARGE',
        `Request body larger than ${max} bytes (api_proxy.max_request_bytes).`,
      );
    }
    chunks.push(value);
  }
  return size === 0 ? null : new Uint8Array(Buffer.concat(chunks));
}

/**
 * Read a request body held in a node stream (the daemon's incoming request): up to
 * {@link REPLAY_BYTES} it is returned as bytes; beyond, the bytes read so far and the rest of the
 * stream are returned as a {@link StreamedBody} that fails with TW_TOO_LARGE past `max`.
 */
export async function bodyFromStream(
  source: Readable,
  max: number,
  declared: number | undefined,
): Promise<Uint8Array | StreamedBody | null> {
  const head: Buffer[] = [];
  let size = 0;
  // Not destroyed when the upstream stops reading early (a 401): the server drains the rest, so
  // the caller still gets its answer.
  const it = source.iterator({ destroyOnReturn: false }) as AsyncIterator<Buffer>;
  for (;;) {
    const { done, value } = await it.next();
    if (done) return size === 0 ? null : head.length === 1 ? (head[0] as Buffer) : Buffer.concat(head, size);
    size += value.length;
    if (size > max) throw tooLarge(max);
    head.push(value);
    if (size > REPLAY_BYTES)
      return {
        stream: rest(head, it, size, max),
        length: declared,
        drain: () => {
          const resume = (): void => void source.resume();
          Promise.resolve(it.return?.()).then(resume, resume);
        },
      };
  }
}

async function* rest(head: Buffer[], it: AsyncIterator<Buffer>, size: number, max: number): AsyncGenerator<Buffer> {
  yield* head;
  for (;;) {
    const { done, value } = await it.next();
    if (done) return;
    size += value.length;
    if (size > max) throw tooLarge(max);
    yield value;
  }
}

function tooLarge(max: number): TokenwardenError {
  return new TokenwardenError('TW_TOO_LARGE', `Request body larger than ${max} bytes (api_proxy.max_request_bytes).`);
}
