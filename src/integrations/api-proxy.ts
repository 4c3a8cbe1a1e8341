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
 * by one refresh and one retry (the request body is buffered up to `max_request_bytes`, so it
 * can be sent twice); the response streams back, cut off past `max_response_bytes`.
 */
import type { ApiProxyConfig } from '../config/schema.js';
import { NotFoundError, TokenwardenError, TransientError } from '../core/errors.js';
import type { AccessTokenInfo } from '../keeper/keeper.js';
import type { ConnectionRuntime } from '../keeper/runtime.js';

/** What the API proxy uses: the root's parts (`partsOf(warden)`). */
export interface ApiProxyDeps {
  connections: ReadonlyMap<string, ConnectionRuntime>;
  deps: { fetch: typeof fetch };
  keeper: { forceRefresh(conn: string): Promise<AccessTokenInfo> };
  tokenInfo(conn: string): Promise<AccessTokenInfo>;
}

export interface ProxyRequest {
  method: string;
  /** Path below api_base as received (percent-encoded), starting with `/`. */
  path: string;
  /** Query string without `?` ('' for none). */
  query: string;
  headers: Headers;
  body: Uint8Array<ArrayBuffer> | string | null;
  signal?: AbortSignal | undefined;
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
 * Forward one request with the connection's token. Throws ReauthRequiredError (the grant needs
 * a human), TransientError (upstream unreachable), Forbidden/BadInput (policy).
 */
export async function forwardApiRequest(
  warden: ApiProxyDeps,
  conn: string,
  req: ProxyRequest,
): Promise<{ response: Response; path: string; scrub: (text: string) => string }> {
  const { base, policy } = proxyTarget(warden, conn);
  const method = req.method.toUpperCase();
  checkProxyMethod(method, policy);
  const path = checkProxyPath(req.path, policy.paths);
  const target = new URL(
    base.origin + base.pathname.replace(/\/+$/, '') + req.path + (req.query ? `?${req.query}` : ''),
  );
  if (target.origin !== base.origin) throw new TokenwardenError('TW_FORBIDDEN', 'The API path leaves api_base.');

  const headers = new Headers();
  const named = new Set(
    (req.headers.get('connection') ?? '')
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter(Boolean),
  );
  req.headers.forEach((v, k) => {
    if (
      HOP_BY_HOP.has(k) ||
      DROP_REQUEST.has(k) ||
      named.has(k) ||
      k.startsWith('proxy-') ||
      k.startsWith('x-forwarded-')
    )
      return;
    headers.set(k, v);
  });
  const body = method === 'GET' || method === 'HEAD' ? null : req.body;
  const signal = AbortSignal.any([AbortSignal.timeout(policy.timeout), ...(req.signal ? [req.signal] : [])]);
  const send = async (info: AccessTokenInfo): Promise<Response> => {
    const h = new Headers(headers);
    h.set('authorization', `${/^bearer$/i.test(info.tokenType) ? 'Bearer' : info.tokenType} ${info.accessToken}`);
    try {
      return await warden.deps.fetch(target, { method, headers: h, body, redirect: 'manual', signal });
    } catch (err) {
      const why = signal.aborted ? `no answer within ${policy.timeout} ms` : 'unreachable';
      throw new TransientError(`The API at ${base.origin} is ${why}.`, { cause: err });
    }
  };
  let info = await warden.tokenInfo(conn);
  const used = [info.accessToken];
  let res = await send(info);
  if (res.status === 401) {
    await res.body?.cancel().catch(() => undefined);
    info = await warden.keeper.forceRefresh(conn);
    used.push(info.accessToken);
    res = await send(info);
  }
  /** For callers that show the body to someone who must not see the token (the MCP tool). */
  const scrub = (text: string): string => used.reduce((t, tok) => t.split(tok).join('[redacted]'), text);
  return { response: passBack(res, info.accessToken, policy.max_response_bytes), path, scrub };
}

/** The upstream response as the caller gets it: filtered headers, size-limited body. */
function passBack(res: Response, token: string, max: number): Response {
  const headers = new Headers();
  const named = new Set(
    (res.headers.get('connection') ?? '')
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter(Boolean),
  );
  const encoded = res.headers.has('content-encoding');
  res.headers.forEach((v, k) => {
    if (HOP_BY_HOP.has(k) || DROP_RESPONSE.has(k) || named.has(k) || k.startsWith('proxy-')) return;
    // An upstream that echoes the token in a header does not get to hand it out.
    if (v.includes(token)) return;
    headers.set(k, v);
  });
  // fetch decoded a compressed body, so its length is unknown; an identity body keeps its length.
  const length = res.headers.get('content-length');
  if (!encoded && length !== null) {
    if (Number(length) > max) {
      void res.body?.cancel().catch(() => undefined);
      throw new TokenwardenError(
        'TW_PROVIDER_ERROR',
        `The API answered more than ${max} bytes (api_proxy.max_response_bytes).`,
      );
    }
    headers.set('content-length', length);
  }
  let body: ReadableStream<Uint8Array> | null = res.body;
  if (body) {
    let seen = 0;
    body = body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          seen += chunk.byteLength;
          if (seen > max) {
            // The server resets the connection and prints the error: one line, not a stack.
            const cut = new Error(
              `tokenwarden API proxy: answer cut off past ${max} bytes (api_proxy.max_response_bytes)`,
            );
            cut.stack = cut.message;
            controller.error(cut);
          } else controller.enqueue(chunk);
        },
      }),
    );
  }
  return new Response(res.status === 204 || res.status === 304 ? null : body, {
    status: res.status,
    statusText: res.statusText,
    headers,
  });
}
