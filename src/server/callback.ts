/**
 * `GET /oauth/callback`: the redirect URI the human's browser reaches (RFC 6749 §4.1.2). The
 * flow is looked up by `state` and the code exchanged at once; the page says what happened.
 * A `state` that names no open flow is refused before anything is recorded. Everything shown
 * is escaped, the code is never echoed (nor logged), and the page cannot be framed.
 */
import { completeFlow } from '../actions/complete-flow.js';
import type { Context, Hono } from 'hono';
import { InputError } from '../core/errors.js';
import { redact } from '../core/logger.js';
import { FreshLinkSentError, acceptedReply } from '../reauth/orchestrator.js';
import type { ServerContext } from './context.js';
import { partsOf } from '../warden.js';

export const CALLBACK_PATH = '/oauth/callback';

export function mountCallback(app: Hono, ctx: ServerContext): void {
  app.get(CALLBACK_PATH, async (c) => {
    // What the browser reached, as a pasted redirect URL would be (the flow's redirect_uri + query).
    const url = new URL(c.req.url);
    // Only an answer to a flow this server opened goes further: anything else (a forged or
    // stale state, a cross-site request with made-up error text) is refused here and records
    // nothing, so strangers cannot write events.
    const refused = await unknownFlow(ctx, url.searchParams.get('state'));
    if (refused) return page(c, 400, 'Not accepted', refused);
    try {
      const done = await completeFlow(ctx.orchestrator, url.toString(), { via: 'callback' });
      return page(c, 200, 'Authorized', `${acceptedReply(done)} You can close this page.`);
    } catch (err) {
      if (err instanceof FreshLinkSentError) return page(c, 410, 'Link expired', err.message);
      if (err instanceof InputError) return page(c, 400, 'Not accepted', err.message);
      ctx.logger.error('callback: exchange failed', { error: redact((err as Error).message) });
      return page(
        c,
        502,
        'Could not finish',
        'The provider could not complete the authorization. Ask for a fresh link and try again.',
      );
    }
  });
}

/** Why a callback with this `state` cannot belong to an open flow, or null when it may. */
async function unknownFlow(ctx: ServerContext, state: string | null): Promise<string | null> {
  if (!state) return 'Not accepted: the URL has no state parameter, so it cannot be matched to an open flow.';
  const flow = await partsOf(ctx.warden).store.findFlowByState(state);
  if (!flow) return 'Not accepted: this link does not match any flow tokenwarden opened (unknown state).';
  if (flow.status !== 'open')
    return 'Not accepted: this link was already used or closed. Ask for a fresh link if needed.';
  return null;
}

export function escapeHtml(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch] as string,
  );
}

function page(c: Context, status: 200 | 400 | 410 | 502, title: string, text: string): Response {
  const body = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer"><title>tokenwarden: ${escapeHtml(title)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem}h1{font-size:1.4rem}</style>
</head><body><h1>${escapeHtml(title)}</h1><p>${escapeHtml(redact(text))}</p></body></html>`;
  return c.html(body, status, {
    'cache-control': 'no-store',
    'referrer-policy': 'no-referrer',
    'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    'x-frame-options': 'DENY',
    'x-content-type-options': 'nosniff',
  });
}
