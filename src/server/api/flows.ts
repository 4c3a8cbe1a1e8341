/**
 * `POST /flows/complete` `{ "input": "<redirect URL or code>" }`: the human's answer, by API.
 * The answer names the connection, flow, account and flow kind, and `warning` (a diagnosed cause,
 * or null) when the authorization worked but needs attention now, e.g. no refresh token came back.
 */
import type { Hono } from 'hono';
import { completeFlow } from '../../actions/complete-flow.js';
import type { ServerContext } from '../context.js';
import { readBody } from './body.js';
import { completeBody } from './schemas.js';

export function mountFlows(api: Hono, ctx: ServerContext): void {
  api.post('/flows/complete', async (c) => {
    const { input } = await readBody(c, completeBody);
    const done = await completeFlow(ctx.orchestrator, input, { via: 'api' });
    return c.json({
      connection: done.connection,
      flow_id: done.flowId,
      account: done.account,
      kind: done.kind,
      // Something the human must know now (no refresh token came back), shaped as a connection's `cause`.
      warning: done.warning ?? null,
    });
  });
}
