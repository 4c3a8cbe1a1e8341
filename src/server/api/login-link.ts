/** `POST /dashboard/login-link`: a one-time dashboard sign-in link for whoever holds the API key. */
import type { Hono } from 'hono';
import type { ServerContext } from '../context.js';
import { LOGIN_LINK_TTL_MS, createLoginLink } from '../dashboard/sessions.js';

export function mountLoginLink(api: Hono, ctx: ServerContext): void {
  api.post('/dashboard/login-link', (c) => {
    const url = createLoginLink(ctx);
    c.header('Cache-Control', 'no-store');
    return c.json(
      { url: url.toString(), expires_at: new Date(ctx.clock.now() + LOGIN_LINK_TTL_MS).toISOString() },
      201,
    );
  });
}
