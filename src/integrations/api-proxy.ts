/**
 * The API proxy: a caller that holds tokenwarden's API key (an agent, a script) calls the
 * provider's API through tokenwarden, which injects the connection's bearer token; the caller
 * never sees the token. Off unless a connection sets `api_proxy`; only its listed methods and
 * paths pass. Used by `/api/v1/connections/:name/proxy/<path>` and the MCP tool `api_request`.
 *
 * Rules: each path segment is percent-decoded once and checked (no `.`/`..`, no encoded `/`,
 * `\` or `%`), so nothing escapes the allow-list by traversal or double encoding; the caller's
 * Authorization, Cookie and Proxy-* headers and hop-by-hop headers are dropped; redirects are
 * passed back, never followed (the token goes to api_base's origin only); a 401 is answered
 * by one refresh and one retry — a request body up to {@link REPLAY_BYTES} is held so it can be
 * sent twice, a larger one is streamed through (up to `max_request_bytes`) and, since it cannot
 * be sent again, a 401 on it refreshes the token and answers 503 "send it again"; the response
 * streams back, cut off past `max_response_bytes`. Upstream requests go over keep-alive pools
 * (integrations/api-upstream.ts).
 */
import { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders } from 'node:http';
import { Readable, Transform } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { ApiProxyConfig } from '../config/schema.js';
import { NotFoundError, TokenwardenError, TransientError } from '../core/errors.js';
import type { AccessTokenInfo } from '../keeper/keeper.js';
import type { ConnectionRuntime } from '../keeper/runtime.js';
import { REPLAY_BYTES, type StreamedBody } from './api-proxy-body.js';
import { ACCEPT_ENCODING, decode, decoderFor, dispatcherFor } from './api-upstream.js';

export { REPLAY_BYTES, bodyFromStream, readLimited, type StreamedBody } from './api-proxy-body.js';

/** A request body: bytes (sent again on a 401) or a stream (sent once; see {@link streamedBody}). */
export type ProxyBody = Uint8Array | string | StreamedBody | null;

/** What the API proxy uses: the root's parts (`partsOf(warden)`). */
export interface ApiProxyDeps {
  connections: ReadonlyMap<string, ConnectionRuntime>;
  keeper: { forceRefresh(conn: string): Promise<AccessTokenInfo> };
  tokenInfo(conn: string): Promise<AccessTokenInfo>;
}

export interface ProxyRequest {
  method: string;
  /** Path below api_base as received (percent-encoded), starting with `/`. */
  path: string;
  /** Query string without `?` ('' for none). */
  query: string;
  headers: Headers | IncomingHttpHeaders;
  body: ProxyBody;
  signal?: AbortSignal | undefined;
  /**
   * Alternative to `signal` without an AbortController per request: called once with the
   * function that abandons the exchange (the daemon's route calls it when its caller hangs up).
   */
  onAbandon?: ((abandon: () => void) => void) | undefined;
}

/** The upstream's answer as the caller gets it: filtered headers, decoded and size-limited body. */
export interface ProxyAnswer {
  status: number;
  headers: Record<string, string | string[]>;
  /** null for HEAD, 204 and 304. */
  body: Readable | null;
}

export interface ProxyTarget {
  base: URL;
  policy: ApiProxyConfig;
}

/** RFC 9110 §7.6.1 hop-by-hop fields, plus what a proxy must not pass on. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);
const DROP_REQUEST = new Set([
  'authorization',
  'cookie',
  'host',
  'content-length',
  'accept-encoding',
  'expect',
  'forwarded',
  'origin',
  'referer',
]);
const DROP_RESPONSE = new Set(['set-cookie', 'set-cookie2', 'content-length', 'content-encoding']);

/** The connection's proxy settings, or NotFound / Forbidden when it has none. */
export function proxyTarget(warden: ApiProxyDeps, conn: string): ProxyTarget {
  const rt = warden.connections.get(conn);
  if (!rt) throw new NotFoundError(`No connection named "${conn}".`);
  const policy = rt.config.api_proxy;
  if (!policy)
    throw new TokenwardenError(
      'TW_FORBIDDEN',
      `The API proxy is not enabled for connection "${conn}" (set api_proxy in its config).`,
    );
  const base = rt.profile.endpoints.apiBase;
  if (!base)
    throw new TokenwardenError(
      'TW_FORBIDDEN',
      `Connection "${conn}" has no api_base (its provider has none built in): set api_base to use the API proxy.`,
    );
  return { base: new URL(base), policy };
}

/**
 * Check a raw path against the allow-list; returns the decoded path. Each segment is decoded
 * exactly once; a segment that decodes to `.`/`..` or holds `/`, `\`, `%` or a control
 * character is refused, so the upstream cannot read it as something else.
 */
export function checkProxyPath(rawPath: string, allow: readonly string[]): string {
  if (!rawPath.startsWith('/')) throw new TokenwardenError('TW_BAD_INPUT', 'The API path must start with /.');
  const segments = rawPath.slice(1).split('/');
  const decoded = segments.map((seg, i) => {
    if (seg === '' && i < segments.length - 1)
      throw new TokenwardenError('TW_FORBIDDEN', 'Empty path segments (//) are not allowed through the API proxy.');
    let d: string;
    try {
      d = decodeURIComponent(seg);
    } catch {
      throw new TokenwardenError('TW_BAD_INPUT', 'The API path has invalid percent-encoding.');
    }
    if (d === '.' || d === '..' || /[/\\%]/.test(d) || [...d].some((ch) => ch.charCodeAt(0) < 32))
      throw new TokenwardenError(
        'TW_FORBIDDEN',
        'Path traversal refused: a path segment is ".", "..", or holds an encoded /, \\, % or control character.',
      );
    return d;
  });
  const path = '/' + decoded.join('/');
  const ok = allow.some((p) => {
    const prefix = p.replace(/\/+$/, '');
    return prefix === '' || path === prefix || path.startsWith(prefix + '/');
  });
  if (!ok)
    throw new TokenwardenError('TW_FORBIDDEN', `The API path ${path} is not in this connection's api_proxy.paths.`);
  return path;
}

export function checkProxyMethod(method: string, policy: ApiProxyConfig): void {
  if (!(policy.methods as readonly string[]).includes(method))
    throw new TokenwardenError(
      'TW_FORBIDDEN',
      `Method ${method} is not allowed through the API proxy (allowed: ${policy.methods.join(', ')}).`,
    );
}

/** The caller's headers that may go upstream (no credentials, no hop-by-hop, no proxy headers). */
function forwardedHeaders(from: Headers | IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const get = (k: string): string | string[] | undefined =>
    from instanceof Headers ? (from.get(k) ?? undefined) : from[k];
  const connection = get('connection');
  const named = connection ? namedIn(String(connection)) : null;
  const add = (k: string, v: string | string[] | undefined): void => {
    if (v === undefined || HOP_BY_HOP.has(k) || DROP_REQUEST.has(k) || named?.has(k)) return;
    if (k.startsWith('proxy-') || k.startsWith('x-forwarded-')) return;
    out[k] = v;
  };
  if (from instanceof Headers) from.forEach((v, k) => add(k, v));
  else for (const k of Object.keys(from)) add(k, from[k]);
  return out;
}

function namedIn(connection: string): Set<string> {
  return new Set(
    connection
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter(Boolean),
  );
}

const authorizationOf = (info: AccessTokenInfo): string =>
  `${/^bearer$/i.test(info.tokenType) ? 'Bearer' : info.tokenType} ${info.accessToken}`;

/**
 * Forward one request with the connection's token, at the node level (the daemon's route pipes
 * the answer straight into its response). Throws ReauthRequiredError (the grant needs a human),
 * TransientError (upstream unreachable or too slow), Forbidden/BadInput (policy), TooLarge.
 */
export async function proxyApiCall(
  warden: ApiProxyDeps,
  conn: string,
  req: ProxyRequest,
): Promise<{ answer: ProxyAnswer; path: string; scrub: (text: string) => string }> {
  const { base, policy } = proxyTarget(warden, conn);
  const method = req.method.toUpperCase();
  checkProxyMethod(method, policy);
  const path = checkProxyPath(req.path, policy.paths);
  const target = new URL(
    base.origin + base.pathname.replace(/\/+$/, '') + req.path + (req.query ? `?${req.query}` : ''),
  );
  if (target.origin !== base.origin) throw new TokenwardenError('TW_FORBIDDEN', 'The API path leaves api_base.');
  const headers = forwardedHeaders(req.headers);
  headers['accept-encoding'] = ACCEPT_ENCODING;
  const body = method === 'GET' || method === 'HEAD' ? null : req.body;
  const streamed = body !== null && typeof body === 'object' && 'stream' in body ? body : null;
  if (streamed?.length !== undefined) headers['content-length'] = String(streamed.length);
  let info = await warden.tokenInfo(conn);
  const used = [info.accessToken];
  const exchange = new Exchange(base, policy.timeout, req.signal);
  req.onAbandon?.(() => exchange.abort());
  const send = (token: AccessTokenInfo): Promise<Dispatcher.ResponseData> =>
    exchange.send(dispatcherFor(target), {
      origin: target.origin,
      path: target.pathname + target.search,
      method: method as Dispatcher.HttpMethod,
      headers: { ...headers, authorization: authorizationOf(token) },
      body: streamed ? Readable.from(streamed.stream, { objectMode: false }) : (body as Uint8Array | string | null),
    });
  /** For callers that show the body to someone who must not see the token (the MCP tool). */
  const scrub = (text: string): string => used.reduce((t, tok) => t.split(tok).join('[redacted]'), text);
  let res: Dispatcher.ResponseData | undefined;
  try {
    res = await send(info);
    if (res.statusCode === 401) {
      discard(res.body);
      res = undefined;
      info = await warden.keeper.forceRefresh(conn);
      used.push(info.accessToken);
      if (streamed)
        throw new TransientError(
          `The API refused the token; it has been refreshed, but a request body over ${REPLAY_BYTES} bytes is streamed and cannot be sent twice: send the request again.`,
          { status: 401, retryAfterMs: 0 },
        );
      res = await send(info);
    }
    return { answer: passBack(res, method, info.accessToken, policy.max_response_bytes, exchange), path, scrub };
  } catch (e) {
    // The deadline and the caller's signal no longer apply; an answer nobody reads is dropped.
    exchange.done();
    if (res) discard(res.body);
    throw e;
  }
}

/**
 * One upstream exchange under one deadline: `timeout` ms from the first byte sent to the last
 * byte of the answer (a retry included), or the caller going away, aborts it. It is its own
 * abort signal (undici takes an emitter with `aborted` and an 'abort' event): no AbortController
 * per request.
 */
class Exchange extends EventEmitter {
  aborted = false;
  private readonly timer: NodeJS.Timeout;
  private timedOut = false;
  private readonly onCallerAbort = (): void => this.abort();

  constructor(
    private readonly base: URL,
    private readonly timeout: number,
    private readonly caller: AbortSignal | undefined,
  ) {
    super();
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.abort();
    }, timeout);
    caller?.addEventListener('abort', this.onCallerAbort, { once: true });
    if (caller?.aborted) this.abort();
  }

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.emit('abort');
  }

  async send(d: Dispatcher, opts: Dispatcher.RequestOptions): Promise<Dispatcher.ResponseData> {
    try {
      return await d.request({ ...opts, signal: this });
    } catch (err) {
      this.done();
      if (err instanceof TokenwardenError) throw err;
      // A body that failed its own size check surfaces as the request's cause.
      if ((err as { cause?: unknown }).cause instanceof TokenwardenError) throw (err as { cause: Error }).cause;
      const why = this.timedOut ? `no answer within ${this.timeout} ms` : 'unreachable';
      throw new TransientError(`The API at ${this.base.origin} is ${why}.`, { cause: err });
    }
  }

  /** The answer has been read (or abandoned): the deadline no longer applies. */
  done(): void {
    clearTimeout(this.timer);
    this.caller?.removeEventListener('abort', this.onCallerAbort);
  }
}

/** The upstream response as the caller gets it: filtered headers, decoded, size-limited body. */
function passBack(
  res: Dispatcher.ResponseData,
  method: string,
  token: string,
  max: number,
  exchange: Exchange,
): ProxyAnswer {
  const headers: Record<string, string | string[]> = {};
  const up = res.headers;
  const connection = up.connection;
  const named = connection ? namedIn(String(connection)) : null;
  for (const k of Object.keys(up)) {
    const v = up[k];
    if (v === undefined || HOP_BY_HOP.has(k) || DROP_RESPONSE.has(k) || named?.has(k) || k.startsWith('proxy-'))
      continue;
    // An upstream that echoes the token in a header does not get to hand it out.
    if (typeof v === 'string' ? v.includes(token) : v.some((x) => x.includes(token))) continue;
    headers[k] = v;
  }
  const status = res.statusCode;
  if (method === 'HEAD' || status === 204 || status === 304) {
    exchange.done();
    discard(res.body);
    return { status, headers, body: null };
  }
  const encoding = up['content-encoding'] as string | undefined;
  const decoder = encoding ? decoderFor(encoding) : null;
  // An encoding the proxy does not undo is passed on as it is, labelled.
  if (encoding && !decoder) headers['content-encoding'] = encoding;
  const length = up['content-length'] as string | undefined;
  let body: Readable = res.body;
  if (!decoder && length !== undefined) {
    if (Number(length) > max)
      throw new TokenwardenError(
        'TW_PROVIDER_ERROR',
        `The API answered more than ${max} bytes (api_proxy.max_response_bytes).`,
      );
    headers['content-length'] = length;
  } else {
    // Decoded or chunked: its length is unknown until read, so it is counted on the way.
    body = (decoder ? decode(body, decoder) : body).pipe(limiter(max));
    res.body.on('error', (e) => body.destroy(e));
  }
  body.once('close', () => exchange.done());
  return { status, headers, body };
}

/** Read and drop an answer body the caller does not get (a short one keeps its socket alive). */
function discard(body: Dispatcher.ResponseData['body']): void {
  body.dump().catch(() => undefined);
}

function limiter(max: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      seen += chunk.length;
      if (seen <= max) return cb(null, chunk);
      // The server resets the connection and logs the error: one line, not a stack.
      const cut = new Error(`tokenwarden API proxy: answer cut off past ${max} bytes (api_proxy.max_response_bytes)`);
      cut.stack = cut.message;
      cb(cut);
    },
  });
}

/**
 * Forward one request and return the answer as a web `Response` (the MCP tool reads it as
 * text). Same rules and errors as {@link proxyApiCall}.
 */
export async function forwardApiRequest(
  warden: ApiProxyDeps,
  conn: string,
  req: ProxyRequest,
): Promise<{ response: Response; path: string; scrub: (text: string) => string }> {
  const { answer, path, scrub } = await proxyApiCall(warden, conn, req);
  return { response: answerAsResponse(answer), path, scrub };
}

/** A {@link ProxyAnswer} as a web `Response`. */
export function answerAsResponse(answer: ProxyAnswer): Response {
  const headers = new Headers();
  for (const [k, v] of Object.entries(answer.headers)) for (const x of Array.isArray(v) ? v : [v]) headers.append(k, x);
  const body = answer.body ? (Readable.toWeb(answer.body) as ReadableStream<Uint8Array>) : null;
  return new Response(body, { status: answer.status, headers });
}
