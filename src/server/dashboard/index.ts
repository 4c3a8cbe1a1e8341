/** `GET /` dashboard. */
import type { Hono } from 'hono';
import type { ServerContext } from '../context.js';

export function mountDashboard(_app: Hono, _ctx: ServerContext): void {
  // Filled in by the dashboard work (issue: the daemon's faces).
}
