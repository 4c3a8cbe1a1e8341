/** `GET /metrics` Prometheus exposition. */
import type { Hono } from 'hono';
import type { ServerContext } from './context.js';

export function mountMetrics(_app: Hono, _ctx: ServerContext): void {
  // Filled in by the metrics work (issue: the daemon's faces).
}
