/**
 * The daemon's HTTP app: a Hono `fetch` function (tests call `app.request()` with no socket).
 * Each area mounts its own routes behind the Host check (server/guards.ts); the server binds it
 * in server/listen.ts.
 */
import { Hono } from 'hono';
import { mountApi } from './api/index.js';
import { mountCallback } from './callback.js';
import type { ServerContext } from './context.js';
import { mountDashboard } from './dashboard/index.js';
import { declaredBodyGuard, hostGuard } from './guards.js';
import { mountHealthz } from './healthz.js';
import { mountMetrics } from './metrics.js';

export function createApp(ctx: ServerContext): Hono {
  const app = new Hono();
  // Every route, /healthz included: a page on a rebinding domain must not read any of them.
  app.use('*', hostGuard(ctx));
  app.use('*', declaredBodyGuard());
  mountHealthz(app, ctx);
  mountCallback(app, ctx);
  mountApi(app, ctx);
  mountMetrics(app, ctx);
  mountDashboard(app, ctx);
  return app;
}
