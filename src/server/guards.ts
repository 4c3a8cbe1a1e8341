/**
 * Guards in front of every route: the Host header must name this server (a browser page on
 * a rebinding domain cannot read the dashboard, API or metrics), and bodies read before
 * authentication are small.
 */
import { isIP } from 'node:net';
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { ServerContext } from './context.js';

/** Largest body a route reads before it knows who is asking (the sign-in form). */
export const UNAUTHENTICATED_BODY_BYTES = 4 * 1024;
/** Largest dashboard form (a pasted redirect URL with its CSRF token). */
export const DASHBOARD_FORM_BYTES = 64 * 1024;

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '::1']);

/** `[::1]` → `::1`, `Example.COM.` → `example.com`. */
function normaliseHost(host: string): string {
  return host
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/\.$/, '')
    .toLowerCase();
}

/** The host name of a Host header value (`[::1]:7465` → `::1`, `Example.COM.:80` → `example.com`). */
export function hostOf(header: string): string {
  const h = header.trim();
  const name = h.startsWith('[') ? h.slice(1, h.indexOf(']') >>> 0) : h.replace(/:\d*$/, '');
  return name.replace(/\.$/, '').toLowerCase();
}

/**
 * The host names this server answers to: loopback names, the host of its base URL
 * (`public_url`, or the listen address) and any `ctx.hosts`. IP literals always pass: a
 * rebinding attack needs a name the attacker's DNS answers, never a literal address.
 */
export function hostAllowed(ctx: ServerContext, hostname: string): boolean {
  const h = normaliseHost(hostname);
  if (LOOPBACK_NAMES.has(h) || isIP(h) !== 0) return true;
  return namesOf(ctx).has(h);
}

// The configured names, per context, recomputed only when the base URL changes (it is set once
// the server listens).
const configured = new WeakMap<ServerContext, { baseUrl: string; names: Set<string> }>();

function namesOf(ctx: ServerContext): Set<string> {
  const hit = configured.get(ctx);
  if (hit?.baseUrl === ctx.baseUrl) return hit.names;
  const names = new Set((ctx.hosts ?? []).map(normaliseHost));
  if (ctx.baseUrl) {
    try {
      names.add(normaliseHost(new URL(ctx.baseUrl).hostname));
    } catch {
      // A base URL that does not parse names no host.
    }
  }
  configured.set(ctx, { baseUrl: ctx.baseUrl, names });
  return names;
}

/** Refuse requests whose Host names another server (421 Misdirected Request). */
export function hostGuard(ctx: ServerContext): MiddlewareHandler {
  return async (c, next) => {
    // The Host header as sent (HTTP/1.1 requires it); without one, the request URL's host.
    const header = c.req.header('host');
    let hostname = '';
    if (header !== undefined) hostname = hostOf(header);
    else
      try {
        hostname = new URL(c.req.url).hostname;
      } catch {
        // No host at all: refused below.
      }
    if (!hostAllowed(ctx, hostname)) {
      // Debug only: a rebinding page can send these in bulk, and the 421 body says what to do.
      ctx.logger.debug('request for another host refused', { host: hostname.slice(0, 100), path: c.req.path });
      return c.text(
        'Misdirected request: this server does not answer to that host name. Use its listen address or public_url.',
        421,
        { 'cache-control': 'no-store' },
      );
    }
    await next();
  };
}

/**
 * Cap the request body at `maxBytes`: a declared Content-Length over it is refused before
 * anything is read, a streamed body once it passes the cap. Answered 413 and the connection
 * closed, so the rest of an oversized upload is not read.
 */
export function smallBody(maxBytes: number, answer?: (c: Context) => Response | Promise<Response>): MiddlewareHandler {
  return bodyLimit({
    maxSize: maxBytes,
    onError: (c) => {
      c.header('Connection', 'close');
      return answer ? answer(c) : c.text(`Request body larger than ${maxBytes} bytes.`, 413);
    },
  });
}

/**
 * Outside the API (which reads bodies only after the key), no route takes more than a
 * dashboard form: a larger declared body is refused before routing, and the connection closed
 * instead of draining it.
 */
export function declaredBodyGuard(): MiddlewareHandler {
  return async (c, next) => {
    const declared = Number(c.req.header('content-length') ?? 0);
    if (declared > DASHBOARD_FORM_BYTES && !c.req.path.startsWith('/api/')) {
      c.header('Connection', 'close');
      return c.text(`Request body larger than ${DASHBOARD_FORM_BYTES} bytes.`, 413);
    }
    await next();
  };
}
