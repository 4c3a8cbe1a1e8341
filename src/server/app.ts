/**
 * The daemon's HTTP app: a Hono `fetch` function (tests call `app.request()` with no socket).
 * Each area mounts its own routes; the server binds it in server/listen.ts.
 */
import { Hono } from 'hono';
import { KeyError } from '../core/errors.js';
import { healthWatchOf } from '../reauth/health-watch.js';
import { mountApi } from './api/index.js';
import { mountCallback } from './callback.js';
import type { ServerContext } from './context.js';
import { mountDashboard } from './dashboard/index.js';
import { mountMetrics } from './metrics.js';

export function createApp(ctx: ServerContext): Hono {
  const app = new Hono();
  // Unhealthy when this process can no longer open the store's secrets (re-sealed under another key).
  app.get('/healthz', async (c) => {
    try {
      await ctx.warden.store.checkKey?.();
      // Fallbacks and channels: failing ones and "only one left" are warnings, not unhealthiness.
      const health = await healthWatchOf(ctx.warden)?.snapshot();
      if (!health) return c.json({ ok: true });
      return c.json({ ok: true, warnings: health.warnings, failing: health.checks.filter((x) => !x.ok) });
    } catch (err) {
      const error = err instanceof KeyError ? err.message : 'the store cannot be read';
      return c.json({ ok: false, error }, 503);
    }
  });
  mountCallback(app, ctx);
  mountApi(app, ctx);
  mountMetrics(app, ctx);
  mountDashboard(app, ctx);
  return app;
}
