/**
 * The `fetch` that provider requests (token, device, revocation, discovery) use by default: a
 * small client on node:http / node:https with keep-alive agents, for the requests openid-client
 * makes (string or URL, a string / URLSearchParams / bytes body, `redirect: 'manual'`, an
 * optional `signal`). Anything else is handed to the global fetch (through the same proxy).
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
 *
 * Proxies: `HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY` (and lowercase forms) as src/core/proxy.ts
 * reads them. https goes through a CONNECT tunnel (TLS end to end with the provider; the tunnelled
 * sockets are kept alive like direct ones); http is sent to the proxy in absolute-URI form.
 */
import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import { TransientError } from '../core/errors.js';
import {
  createProxiedFetch,
  describeProxy,
  proxyAuthorization,
  proxyFor,
  readProxyEnv,
  type Env,
  type ProxySettings,
} from '../core/proxy.js';

export interface HttpClientOptions {
  /** Largest answer body accepted (default 1 MiB). */
  maxResponseBytes?: number;
  /** Where the proxy variables are read from, on the first request (default `process.env`). */
  env?: Env;
  /** CA certificates (PEM) trusted for https instead of Node's defaults (a private PKI). */
  ca?: string | Buffer | Array<string | Buffer>;
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
      // The provider's answer cannot be read: worth a later retry, never a verdict on the grant.
      throw new TransientError(`unsupported content-encoding "${encoding}" in the provider's answer`);
  }
}

function fetchFailed(cause: unknown): TypeError {
  return new TypeError('fetch failed', { cause });
}

const CONNECT_TIMEOUT_MS = 30_000;
const unbracket = (host: string): string => (host.startsWith('[') ? host.slice(1, -1) : host);

/**
 * An https agent whose sockets are TLS inside a CONNECT tunnel through `proxy`. The agent pools
 * by target host and port, so tunnels are reused like direct keep-alive sockets.
 */
class TunnelAgent extends https.Agent {
  constructor(
    private readonly proxy: URL,
    opts: https.AgentOptions,
  ) {
    super(opts);
  }

  override createConnection(
    options: http.ClientRequestArgs,
    callback?: (err: Error | null, stream: Duplex) => void,
  ): Duplex | null | undefined {
    let called = false;
    const done = (err: Error | null, stream: Duplex): void => {
      if (called) return;
      called = true;
      callback?.(err, stream);
    };
    const host = unbracket(options.host ?? options.hostname ?? 'localhost');
    const target = `${host.includes(':') ? `[${host}]` : host}:${options.port ?? 443}`;
    const headers: Record<string, string> = { host: target };
    const auth = proxyAuthorization(this.proxy);
    if (auth) headers['proxy-authorization'] = auth;
    const connect = http.request({
      host: unbracket(this.proxy.hostname),
      port: this.proxy.port || 80,
      method: 'CONNECT',
      path: target,
      headers,
      agent: false,
    });
    connect.once('connect', (res, socket, head) => {
      if (res.statusCode !== 200) {
        socket.destroy();
        done(new Error(`proxy ${describeProxy(this.proxy)} answered ${res.statusCode} to CONNECT ${target}`), socket);
        return;
      }
      if (head.length > 0) socket.unshift(head);
      const tlsOptions = { ...(options as tls.ConnectionOptions), socket };
      done(null, tls.connect(tlsOptions));
    });
    connect.once('response', (res) => {
      // A proxy that answers CONNECT with a plain response (no tunnel).
      res.resume();
      done(new Error(`proxy ${describeProxy(this.proxy)} answered ${res.statusCode} to CONNECT ${target}`), res.socket);
    });
    connect.once('error', (e) =>
      done(new Error(`proxy ${describeProxy(this.proxy)}: ${e.message}`, { cause: e }), connect.socket as Duplex),
    );
    // A proxy that never answers must not hold the CONNECT open after the caller gave up.
    connect.setTimeout(CONNECT_TIMEOUT_MS, () =>
      connect.destroy(new Error(`no answer to CONNECT ${target} within ${CONNECT_TIMEOUT_MS / 1000} s`)),
    );
    connect.end();
    return undefined;
  }
}

/** One client's pools and settings (what the closures of a fetch would otherwise capture). */
interface ClientState {
  readonly maxBytes: number;
  readonly tlsOpts: { ca?: string | Buffer | Array<string | Buffer> };
  readonly agents: { 'http:': http.Agent; 'https:': https.Agent };
  readonly tunnels: Map<string, TunnelAgent>;
  readonly env: Env;
  /** Read from the environment on first use. */
  proxies: ProxySettings | null | undefined;
}

export function createHttpFetch(opts: HttpClientOptions = {}): HttpFetch {
  const tlsOpts = opts.ca !== undefined ? { ca: opts.ca } : {};
  const state: ClientState = {
    maxBytes: opts.maxResponseBytes ?? 1 << 20,
    tlsOpts,
    agents: {
      'http:': new http.Agent({ keepAlive: true }),
      'https:': new https.Agent({ keepAlive: true, ...tlsOpts }),
    },
    tunnels: new Map(),
    env: opts.env ?? process.env,
    proxies: undefined,
  };
  let fallbackFetch: typeof fetch | undefined;
  /** Requests this client does not handle itself go to the global fetch, through the same proxy. */
  const fallback = (input: string | URL | Request, init: RequestInit): Promise<Response> => {
    state.proxies ??= readProxyEnv(state.env);
    fallbackFetch ??= createProxiedFetch(state.proxies, (i, o) => globalThis.fetch(i, o));
    return fallbackFetch(input, init);
  };
  const httpFetch = (async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const body = bodyOf(init.body);
    if (input instanceof Request || body === null || (init.redirect !== undefined && init.redirect !== 'manual'))
      return fallback(input, init);
    const url = typeof input === 'string' ? new URL(input) : input;
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return fallback(input, init);
    const headers = headersOf(init.headers);
    headers['accept'] ??= '*/*';
    headers['user-agent'] ??= 'tokenwarden';
    if (init.body instanceof URLSearchParams)
      headers['content-type'] ??= 'application/x-www-form-urlencoded;charset=UTF-8';
    if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
    return send(state, url, (init.method ?? 'GET').toUpperCase(), headers, body, init.signal);
  }) as HttpFetch;
  httpFetch.close = () => {
    state.agents['http:'].destroy();
    state.agents['https:'].destroy();
    for (const tunnel of state.tunnels.values()) tunnel.destroy();
  };
  return httpFetch;
}

/** The request on the right agent: direct (keep-alive pool), via an http proxy, or through a CONNECT tunnel. */
function openRequest(
  state: ClientState,
  url: URL,
  method: string,
  headers: Record<string, string>,
  onResponse: (res: http.IncomingMessage) => void,
): http.ClientRequest {
  state.proxies ??= readProxyEnv(state.env);
  const proxy = proxyFor(url, state.proxies);
  if (!proxy) {
    const mod = url.protocol === 'https:' ? https : http;
    return mod.request(url, { method, headers, agent: state.agents[url.protocol as 'http:' | 'https:'] }, onResponse);
  }
  if (url.protocol === 'http:') {
    const viaProxy: Record<string, string> = { ...headers, host: url.host };
    const auth = proxyAuthorization(proxy);
    if (auth) viaProxy['proxy-authorization'] = auth;
    const path = `${url.origin}${url.pathname}${url.search}`;
    const port = proxy.port || 80;
    return http.request(
      { host: unbracket(proxy.hostname), port, method, path, headers: viaProxy, agent: state.agents['http:'] },
      onResponse,
    );
  }
  let tunnel = state.tunnels.get(proxy.href);
  if (!tunnel) {
    tunnel = new TunnelAgent(proxy, { keepAlive: true, ...state.tlsOpts });
    state.tunnels.set(proxy.href, tunnel);
  }
  return https.request(url, { method, headers, agent: tunnel }, onResponse);
}

/** The whole answer as a fetch Response: decoded, with a null body where HTTP says there is none. */
function responseOf(res: http.IncomingMessage, body: Buffer, method: string, maxBytes: number): Response {
  const status = res.statusCode ?? 0;
  const out = new Headers();
  const raw = res.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) out.append(raw[i] as string, raw[i + 1] as string);
  const encoded = out.get('content-encoding') ?? undefined;
  let payload: Buffer | null = body;
  if (encoded) {
    payload = decode(payload, encoded, maxBytes);
    out.delete('content-encoding');
    out.delete('content-length');
  }
  if (NULL_BODY_STATUS.has(status) || method === 'HEAD') payload = null;
  const bytes = payload === null ? null : (payload as Uint8Array<ArrayBuffer>);
  return new Response(bytes, { status, statusText: res.statusMessage ?? '', headers: out });
}

/**
 * One request and its buffered answer (at most `maxBytes`). A request that fails on a reused
 * keep-alive socket before any answer is sent again once; an abort destroys the request.
 */
function send(
  state: ClientState,
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: Body,
  signal?: AbortSignal | null,
): Promise<Response> {
  const { maxBytes } = state;
  return new Promise<Response>((resolve, reject) => {
    let settled = false;
    let answered = false;
    const finish = (err: unknown, res?: Response): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      if (res) resolve(res);
      else reject(err);
    };
    let req: http.ClientRequest;
    try {
      req = openRequest(state, url, method, headers, onResponse);
    } catch (e) {
      finish(e);
      return;
    }
    function onResponse(res: http.IncomingMessage): void {
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
          finish(null, responseOf(res, Buffer.concat(chunks, size), method, maxBytes));
        } catch (e) {
          finish(fetchFailed(e));
        }
      });
    }
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
        send(state, url, method, headers, body, signal).then(resolve, reject);
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

/** The process-wide client provider requests use unless a fetch is injected. */
export const providerHttpFetch: HttpFetch = createHttpFetch();
