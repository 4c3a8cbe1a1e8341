/** `GET /metrics` Prometheus exposition (text format 0.0.4); see metrics-registry.ts for the series. */
import type { Hono } from 'hono';
import type { ServerContext } from './context.js';
import { createMetrics, type WardenMetrics } from './metrics-registry.js';

export function mountMetrics(app: Hono, ctx: ServerContext): WardenMetrics {
  const metrics = createMetrics(ctx);
  ctx.warden.onClose(async () => metrics.detach());
  app.get('/metrics', async (c) => {
    await metrics.update();
    c.header('Content-Type', metrics.registry.contentType);
    c.header('Cache-Control', 'no-store');
    return c.body(await metrics.registry.metrics());
  });
  return metrics;
}
