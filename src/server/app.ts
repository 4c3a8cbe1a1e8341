/**
 * The daemon's HTTP app: a Hono `fetch` function (tests call `app.request()` with no socket).
 * Each area mounts its own routes; the server binds it in server/listen.ts.
 */
import { Hono } from 'hono';
import { mountApi } from './api/index.js';
import { mountCallback } from './callback.js';
import type { ServerContext } from './context.js';
import { mountDashboard } from './dashboard/index.js';
import { mountHealthz } from './healthz.js';
import { mountMetrics } from './metrics.js';

export function createApp(ctx: ServerContext): Hono {
  const app = new Hono();
  mountHealthz(app, ctx);
  mountCallback(app, ctx);
  mountApi(app, ctx);
  mountMetrics(app, ctx);
  mountDashboard(app, ctx);
  return app;
}
