/** `/api/v1/*` JSON API. */
import type { Hono } from 'hono';
import type { ServerContext } from '../context.js';

export function mountApi(_app: Hono, _ctx: ServerContext): void {
  // Filled in by the HTTP API work (issue: the daemon's faces).
}
