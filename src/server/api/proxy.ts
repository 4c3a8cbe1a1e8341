/**
 * `ANY /connections/:name/proxy/<path>`: the provider API through the daemon with the
 * connection's token injected (integrations/api-proxy.ts). Needs the API key like every API
 * route; 403 outside the connection's `api_proxy` allow-list; 409 with the diagnosis (the token
 * route's body) while the grant needs a human.
 *
 * On the node server the request body is read from, and the answer piped into, the node
 * request and response themselves: materialising the web Request and Response around them
 * cost more than the forwarding (docs/benchmarks.md, API proxy). Without a socket (`app.request`
 * in tests) the same call goes through web streams.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import type { Context, Hono } from 'hono';
import {
  answerAsResponse,
  bodyFromStream,
  proxyApiCall,
  proxyTarget,
  readLimited,
  type ProxyAnswer,
  type ProxyBody,
} from '../../integrations/api-proxy.js';
import { TokenwardenError } from '../../core/errors.js';
import type { ServerContext } from '../context.js';
import { statusForCode } from '../error-status.js';
import { partsOf } from '../../warden.js';

interface NodeBindings {
  incoming?: IncomingMessage;
  outgoing?: ServerResponse;
}

export function mountProxy(api: Hono, ctx: ServerContext): void {
  const handle = async (c: Context): Promise<Response> => {
    const name = c.req.param('name') ?? '';
    const { policy } = proxyTarget(partsOf(ctx.warden), name);
    const { path, query } = splitTarget(c.req.url);
    const declared = c.req.header('content-length');
    const length = declared === undefined ? undefined : Number(declared);
    if (length !== undefined && length > policy.max_request_bytes)
      throw new TokenwardenError(
        'TW_TOO_LARGE',
        `Request body larger than ${policy.max_request_bytes} bytes (api_proxy.max_request_bytes).`,
      );
    const method = c.req.method.toUpperCase();
    const { incoming, outgoing } = (c.env ?? {}) as NodeBindings;
    const node = incoming && outgoing ? { incoming, outgoing } : null;
    const hasBody = method !== 'GET' && method !== 'HEAD';
    let body: ProxyBody = null;
    if (hasBody)
      body = node
        ? await bodyFromStream(node.incoming, policy.max_request_bytes, length)
        : await readLimited(c.req.raw.body, policy.max_request_bytes);
    const call = proxyApiCall(partsOf(ctx.warden), name, {
      method,
      path,
      query,
      headers: node ? node.incoming.headers : c.req.raw.headers,
      body,
      ...(node
        ? { onAbandon: (abandon: () => void) => onHangUp(node.outgoing, abandon) }
        : { signal: c.req.raw.signal }),
    });
    // A streamed body the upstream stopped reading (a 401) is drained so the caller, still
    // sending, gets the answer; one that is too large is not (the server closes the connection).
    if (body !== null && typeof body === 'object' && 'drain' in body)
      call.catch((e: unknown) => {
        if (!(e instanceof TokenwardenError && e.code === 'TW_TOO_LARGE')) body.drain?.();
      });
    const { answer, path: checked } = await call;
    ctx.logger.info('api proxy', { connection: name, method, path: checked, status: answer.status });
    // Hono answers HEAD by wrapping the route's Response, so HEAD takes the web path too.
    if (!node || method === 'HEAD') return answerAsResponse(answer);
    sendAnswer(answer, node.outgoing, ctx);
    return RESPONSE_ALREADY_SENT;
  };
  api.all('/connections/:name/proxy', handle);
  api.all('/connections/:name/proxy/*', handle);
}

/** The path as sent (still percent-encoded) after `/connections/<name>/proxy`, and the query. */
function splitTarget(url: string): { path: string; query: string } {
  const pathStart = url.indexOf('/', url.indexOf('//') + 2);
  const q = url.indexOf('?', pathStart);
  const fullPath = q < 0 ? url.slice(pathStart) : url.slice(pathStart, q);
  const marker = fullPath.indexOf('/proxy', fullPath.indexOf('/connections/') + '/connections/'.length);
  return {
    path: fullPath.slice(marker + '/proxy'.length) || '/',
    query: q < 0 ? '' : url.slice(q + 1).replace(/#.*$/, ''),
  };
}

/** Call `abandon` if the caller goes away before its answer has been written. */
function onHangUp(outgoing: ServerResponse, abandon: () => void): void {
  outgoing.once('close', () => {
    if (!outgoing.writableFinished) abandon();
  });
}

/** Answers up to this size with a declared length are written in one piece, headers included. */
const WHOLE_BYTES = 64 * 1024;

/**
 * Write the answer into the node response. A small answer of known length is gathered and
 * written with its headers in one write (one syscall instead of two or three); a larger one is
 * streamed with backpressure. A body that fails before any byte went out is a 502 with the
 * reason; after that, the connection is reset. A caller that hangs up stops the upstream body.
 * No `pipeline`, which allocates an AbortController (and its DOMException) per call.
 */
function sendAnswer(answer: ProxyAnswer, outgoing: ServerResponse, ctx: ServerContext): void {
  const body = answer.body;
  if (!body) {
    outgoing.writeHead(answer.status, answer.headers).end();
    return;
  }
  // The status line and headers go out with the first bytes of the body, so an answer that fails
  // before any byte was passed on (cut off past max_response_bytes in its first read, upstream
  // reset) is still a clean 502 for the caller; once bytes went out, the connection is reset.
  let started = false;
  const start = (): void => {
    if (started) return;
    started = true;
    outgoing.writeHead(answer.status, answer.headers);
  };
  body.once('error', (err) => {
    ctx.logger.warn('api proxy answer stopped', { error: err.message });
    if (started) {
      outgoing.destroy();
      return;
    }
    started = true;
    const failed = new TokenwardenError(
      'TW_PROVIDER_ERROR',
      `The API answer failed: ${err.message.replace(/^tokenwarden API proxy: /, '')}.`,
    );
    const json = JSON.stringify({ error: failed.toJSON() });
    outgoing
      .writeHead(statusForCode(failed.code), {
        'content-type': 'application/json',
        'cache-control': 'no-store',
        'content-length': String(Buffer.byteLength(json)),
      })
      .end(json);
  });
  outgoing.once('close', () => {
    if (!body.readableEnded) body.destroy();
  });
  const length = Number(answer.headers['content-length'] ?? Infinity);
  if (length > WHOLE_BYTES) {
    body.on('data', (c: Buffer) => {
      start();
      if (!outgoing.write(c)) body.pause();
    });
    outgoing.on('drain', () => body.resume());
    body.once('end', () => {
      start();
      outgoing.end();
    });
    return;
  }
  const chunks: Buffer[] = [];
  body.on('data', (c: Buffer) => chunks.push(c));
  body.once('end', () => {
    start();
    outgoing.end(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
  });
}
