/**
 * `GET /healthz`: 200 while the daemon can open the store's secrets, 503 once it cannot (the
 * store was re-sealed under another key behind its back). What the health watch found — failing
 * channels, App Password routes, client secrets, and "only one route left" warnings — is
 * listed for callers presenting the API key (or, with no API key configured, from loopback);
 * everyone else gets counts only (the details name hosts, mailboxes and config keys).
 */
import type { Context, Hono } from 'hono';
import { KeyError } from '../core/errors.js';
import { clientAddress, secretsEqual } from './auth.js';
import type { ServerContext } from './context.js';
import { partsOf } from '../warden.js';

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1', 'local']);

function mayReadDetails(c: Context, ctx: ServerContext): boolean {
  if (ctx.apiKey === null) return LOOPBACK.has(clientAddress(c));
  const m = /^Bearer\s+(.+)$/i.exec(c.req.header('authorization') ?? '');
  return m?.[1] !== undefined && secretsEqual(m[1], ctx.apiKey);
}

export function mountHealthz(app: Hono, ctx: ServerContext): void {
  app.get('/healthz', async (c) => {
    const details = mayReadDetails(c, ctx);
    try {
      await partsOf(ctx.warden).store.checkKey?.();
    } catch (err) {
      const why =
        err instanceof KeyError
          ? 'the daemon can no longer open the store\u2019s secrets: the store was re-sealed under another key; restart it with the current key'
          : 'the daemon cannot read its store';
      return c.json({ ok: false, error: details ? `${why} (${(err as Error).message})` : why }, 503);
    }
    // Failing fallbacks and channels are warnings, not unhealthiness: the daemon itself works.
    const health = await ctx.health?.snapshot();
    if (!health) return c.json({ ok: true });
    const failing = health.checks.filter((x) => !x.ok);
    if (!details) return c.json({ ok: true, warnings: health.warnings.length, failing: failing.length });
    return c.json({ ok: true, warnings: health.warnings, failing });
  });
}
