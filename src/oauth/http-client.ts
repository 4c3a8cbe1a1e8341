/**
 * The `fetch` that provider requests (token, device, revocation, discovery) use by default: a
 * small client on node:http / node:https with keep-alive agents, for the requests openid-client
 * makes (string or URL, a string / URLSearchParams / bytes body, `redirect: 'manual'`, an
 * optional `signal`). Anything else is handed to the global fetch.
 *
 * Why not the global fetch (undici): per request it allocates several times more and keeps part
 * of it alive through two scavenges (AbortController, WeakRef, stream machinery), so at 100,000
 * connections the promoted garbage set the daemon's resident memory. Measured side by side in
 * bench/provider-http.ts (docs/benchmarks.md).
 *
 * Behaviour kept from fetch: network failures reject with `TypeError('fetch failed', { cause })`
 * (the cause carries the errno code), an aborted signal rejects with the signal's reason, and the
 * answer is a standard `Response`. Added: answers larger than `maxResponseBytes` (default 1 MiB)
 * are refused, so a hostile endpoint cannot make the process buffer without bound; a request on
 * a reused keep-alive socket that the server had already closed is sent once more on a new one
 * (nothing of it reached the server: the reset came before any byte of an answer).
 */
import http from 'node:http';
import https from 'node:https';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';

export interface HttpClientOptions {
  /** Largest answer body accepted (default 1 MiB). */
  maxResponseBytes?: number;
}

/** A `fetch` on node:http with `close()` to drop its idle keep-alive sockets. */
export type HttpFetch = typeof fetch & { close(): void };

const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304]);
const RETRYABLE_ON_REUSED_SOCKET = new Set(['ECONNRESET', 'EPIPE']);

type Body = string | Uint8Array | undefined;

function bodyOf(body: RequestInit['body']): Body | null {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return body;
  if (body instanceof URLSearchParams) return body.toString();
  if (body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  return null; // streams, blobs, form data: not ours
}

function headersOf(init: HeadersInit | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!init) return out;
  if (init instanceof Headers || Array.isArray(init)) {
    for (const [k, v] of init as Iterable<[string, string]>) out[k.toLowerCase()] = v;
    return out;
  }
  for (const k of Object.keys(init)) {
    const v = (init as Record<string, string | undefined>)[k];
    if (v !== undefined) out[k.toLowerCase()] = String(v);
  }
  return out;
}

function decode(buf: Buffer, encoding: string | undefined, max: number): Buffer {
  switch (encoding?.trim().toLowerCase()) {
    case undefined:
    case '':
    case 'identity':
      return buf;
    case 'gzip':
    case 'x-gzip':
      return gunzipSync(buf, { maxOutputLength: max });
    case 'deflate':
      return inflateSync(buf, { maxOutputLength: max });
    case 'br':
      return brotliDecompressSync(buf, { maxOutputLength: max });
    default:
      throw new Error(`unsupported content-encoding "${encoding}"`);
  }
}

function fetchFailed(cause: unknown): TypeError {
  return new TypeError('fetch failed', { cause });
}

export function createHttpFetch(opts: HttpClientOptions = {}): HttpFetch {
  const maxBytes = opts.maxResponseBytes ?? 1 << 20;
  const agents = {
    'http:': new http.Agent({ keepAlive: true }),
    'https:': new https.Agent({ keepAlive: true }),
  };

  function send(url: URL, method: string, headers: Record<string, string>, body: Body, signal?: AbortSignal | null) {
    return new Promise<Response>((resolve, reject) => {
      const mod = url.protocol === 'https:' ? https : http;
      let settled = false;
      let answered = false;
      const finish = (err: unknown, res?: Response): void => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener('abort', onAbort);
        if (res) resolve(res);
        else reject(err);
      };
      const req = mod.request(url, { method, headers, agent: agents[url.protocol as 'http:' | 'https:'] }, (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBytes) {
            req.destroy();
            finish(fetchFailed(new Error(`response from ${url.host} is larger than ${maxBytes} bytes`)));
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', (e) => finish(fetchFailed(e)));
        res.on('end', () => {
          if (settled) return;
          const status = res.statusCode ?? 0;
          if (status < 200 || status > 599) {
            finish(fetchFailed(new Error(`invalid HTTP status ${status} from ${url.host}`)));
            return;
          }
          try {
            const out = new Headers();
            const raw = res.rawHeaders;
            for (let i = 0; i + 1 < raw.length; i += 2) out.append(raw[i] as string, raw[i + 1] as string);
            const encoded = out.get('content-encoding') ?? undefined;
            let payload: Buffer | null = Buffer.concat(chunks, size);
            if (encoded) {
              payload = decode(payload, encoded, maxBytes);
              out.delete('content-encoding');
              out.delete('content-length');
            }
            if (NULL_BODY_STATUS.has(status) || method === 'HEAD') payload = null;
            const bytes = payload === null ? null : (payload as Uint8Array<ArrayBuffer>);
            finish(null, new Response(bytes, { status, statusText: res.statusMessage ?? '', headers: out }));
          } catch (e) {
            finish(fetchFailed(e));
          }
        });
      });
      const onAbort = (): void => {
        req.destroy();
        finish(signal?.reason);
      };
      req.on('error', (e: NodeJS.ErrnoException) => {
        if (settled) return;
        if (!answered && req.reusedSocket && e.code !== undefined && RETRYABLE_ON_REUSED_SOCKET.has(e.code)) {
          // The server closed an idle keep-alive socket as we reused it: nothing was answered.
          settled = true;
          signal?.removeEventListener('abort', onAbort);
          send(url, method, headers, body, signal).then(resolve, reject);
          return;
        }
        finish(fetchFailed(e));
      });
      if (signal) {
        if (signal.aborted) {
          req.destroy();
          finish(signal.reason);
          return;
        }
        signal.addEventListener('abort', onAbort, { once: true });
      }
      req.end(body);
    });
  }

  const httpFetch = (async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const body = bodyOf(init.body);
    if (input instanceof Request || body === null || (init.redirect !== undefined && init.redirect !== 'manual'))
      return globalThis.fetch(input, init);
    const url = typeof input === 'string' ? new URL(input) : input;
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return globalThis.fetch(input, init);
    const headers = headersOf(init.headers);
    headers['accept'] ??= '*/*';
    headers['user-agent'] ??= 'tokenwarden';
    if (init.body instanceof URLSearchParams)
      headers['content-type'] ??= 'application/x-www-form-urlencoded;charset=UTF-8';
    if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
    return send(url, (init.method ?? 'GET').toUpperCase(), headers, body, init.signal);
  }) as HttpFetch;
  httpFetch.close = () => {
    agents['http:'].destroy();
    agents['https:'].destroy();
  };
  return httpFetch;
}

/** The process-wide client provider requests use unless a fetch is injected. */
export const providerHttpFetch: HttpFetch = createHttpFetch();
