/**
 * Connections: `GET /connections`, `GET /connections/:name`, `POST /connections/:name/token`
 * (the only response that ever carries a token), `POST /connections/:name/reauth`.
 */
import type { Hono } from 'hono';
import { NotFoundError } from '../../core/errors.js';
import type { FlowRecord } from '../../store/types.js';
import { requestReauth } from '../../actions/request-reauth.js';
import { connectionView } from '../../actions/status-view.js';
import { reauthDeps, type ServerContext } from '../context.js';
import { readBody } from './body.js';
import { reauthBody } from './schemas.js';
import { partsOf } from '../../warden.js';

/** A flow as the API shows it: the link and its facts, never the verifier, device code or nonce. */
export function flowView(f: FlowRecord): Record<string, unknown> {
  return {
    id: f.id,
    connection: f.connection,
    kind: f.kind,
    status: f.status,
    url: f.url,
    user_code: f.userCode,
    reason: f.reason,
    asked_via: f.askedVia,
    created_at: new Date(f.createdAt).toISOString(),
    expires_at: new Date(f.expiresAt).toISOString(),
  };
}

export function mountConnections(api: Hono, ctx: ServerContext): void {
  const { warden } = ctx;

  api.get('/connections', async (c) => {
    const now = ctx.clock.now();
    const all = await warden.status();
    return c.json({ connections: all.map((s) => connectionView(s, now)) });
  });

  api.get('/connections/:name', async (c) => {
    const name = c.req.param('name');
    const s = (await warden.status()).find((x) => x.name === name);
    if (!s) throw new NotFoundError(`No connection named "${name}".`);
    return c.json(connectionView(s, ctx.clock.now()));
  });

  api.post('/connections/:name/token', async (c) => {
    const info = await warden.tokenInfo(c.req.param('name'));
    // RFC 6749 §5.1: responses carrying tokens must not be cached.
    c.header('Cache-Control', 'no-store');
    c.header('Pragma', 'no-cache');
    return c.json({
      access_token: info.accessToken,
      token_type: info.tokenType,
      expires_at: info.expiresAt === null ? null : new Date(info.expiresAt).toISOString(),
      expires_in: info.expiresAt === null ? null : Math.max(0, Math.floor((info.expiresAt - ctx.clock.now()) / 1000)),
      state: info.state,
    });
  });

  api.post('/connections/:name/reauth', async (c) => {
    const name = c.req.param('name');
    if (!partsOf(warden).connections.has(name)) throw new NotFoundError(`No connection named "${name}".`);
    const body = await readBody(c, reauthBody);
    const { flow } = await requestReauth(reauthDeps(ctx), name, {
      reason: body.reason ?? 'manual',
      ...(body.via ? { via: body.via } : {}),
      ...(body.fresh !== undefined ? { fresh: body.fresh } : {}),
    });
    return c.json({ flow: flowView(flow) }, 202);
  });
}
