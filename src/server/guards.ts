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

/**
 * The host names this server answers to: loopback names, the host of its base URL
 * (`public_url`, or the listen address) and any `ctx.hosts`. IP literals always pass: a
 * rebinding attack needs a name the attacker's DNS answers, never a literal address.
 */
export function hostAllowed(ctx: ServerContext, hostname: string): boolean {
  const h = normaliseHost(hostname);
  if (LOOPBACK_NAMES.has(h) || isIP(h) !== 0) return true;
  const names = [...(ctx.hosts ?? [])];
  if (ctx.baseUrl) {
    try {
      names.push(new URL(ctx.baseUrl).hostname);
    } catch {
      // A base URL that does not parse names no host.
    }
  }
  return names.some((n) => normaliseHost(n) === h);
}

/** Refuse requests whose Host names another server (421 Misdirected Request). */
export function hostGuard(ctx: ServerContext): MiddlewareHandler {
  return async (c, next) => {
    let hostname: string;
    try {
      hostname = new URL(c.req.url).hostname;
    } catch {
      hostname = '';
    }
    if (!hostAllowed(ctx, hostname)) {
      ctx.logger.warn('request for another host refused', { host: hostname.slice(0, 100), path: c.req.path });
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
