/** `GET /oauth/callback`: the redirect URI the human's browser reaches; completes the flow at once. */
import type { Hono } from 'hono';
import type { ServerContext } from './context.js';

export function mountCallback(_app: Hono, _ctx: ServerContext): void {
  // Filled in by the daemon work (issue: human-assisted re-authorization).
}
