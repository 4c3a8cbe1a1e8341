/**
 * `/api/v1/*` JSON API: every call needs `Authorization: Bearer <api key>`;
 * every error is `{ "error": { "code": "TW_…", "message": … } }` with the status mapped from
 * its code in server/error-status.ts.
 */
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { NotFoundError, TokenwardenError } from '../../core/errors.js';
import { FailureBudget, apiAuth, type FailureBudgetOptions } from '../auth.js';
import type { ServerContext } from '../context.js';
import { errorResponse } from '../error-status.js';
import { mountConnections } from './connections.js';
import { mountEvents } from './events.js';
import { mountFlows } from './flows.js';
import { mountLoginLink } from './login-link.js';
import { mountMailboxes } from './mailboxes.js';
import { mountProxy } from './proxy.js';

/** Largest request body accepted (mail with attachments, base64). */
const MAX_BODY_BYTES = 25 * 1024 * 1024;

export function mountApi(app: Hono, ctx: ServerContext, opts: { budget?: FailureBudgetOptions } = {}): void {
  const api = new Hono();
  const budget = new FailureBudget(ctx.clock, opts.budget);
  api.onError((err, c) => errorResponse(c, err, ctx.logger));
  api.use('*', apiAuth(ctx, budget));
  // Only on routes that read a body: touching the body materialises the full Request on
  // @hono/node-server, which costs the token hot path ~4x (bench/http-token.ts).
  const limit = bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: (c) =>
      errorResponse(c, new TokenwardenError('TW_BAD_INPUT', `Request body larger than ${MAX_BODY_BYTES} bytes.`)),
  });
  for (const path of ['/connections/:name/reauth', '/flows/complete', '/mailboxes/:name/send']) api.post(path, limit);
  mountConnections(api, ctx);
  mountFlows(api, ctx);
  mountEvents(api, ctx);
  mountMailboxes(api, ctx);
  mountLoginLink(api, ctx);
  mountProxy(api, ctx);
  api.all('*', (c) => errorResponse(c, new NotFoundError(`No API route ${c.req.method} ${c.req.path}.`)));
  app.route('/api/v1', api);
}
