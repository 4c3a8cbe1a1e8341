/**
 * `ANY /connections/:name/proxy/<path>`: the provider API through the daemon with the
 * connection's token injected (integrations/api-proxy.ts). Needs the API key like every API
 * route; 403 outside the connection's `api_proxy` allow-list; 409 with the diagnosis (the token
 * route's body) while the grant needs a human.
 */
import type { Context, Hono } from 'hono';
import { forwardApiRequest, proxyTarget, readLimited } from '../../integrations/api-proxy.js';
import { TokenwardenError } from '../../core/errors.js';
import type { ServerContext } from '../context.js';
import { partsOf } from '../../warden.js';

export function mountProxy(api: Hono, ctx: ServerContext): void {
  const handle = async (c: Context): Promise<Response> => {
    const name = c.req.param('name') ?? '';
    const { policy } = proxyTarget(partsOf(ctx.warden), name);
    // The path as sent (still percent-encoded): everything after /connections/<name>/proxy.
    const url = c.req.url;
    const pathStart = url.indexOf('/', url.indexOf('//') + 2);
    const q = url.indexOf('?', pathStart);
    const fullPath = q < 0 ? url.slice(pathStart) : url.slice(pathStart, q);
    const marker = fullPath.indexOf('/proxy', fullPath.indexOf('/connections/') + '/connections/'.length);
    const path = fullPath.slice(marker + '/proxy'.length) || '/';
    const query = q < 0 ? '' : url.slice(q + 1).replace(/#.*$/, '');
    const declared = Number(c.req.header('content-length') ?? 0);
    if (declared > policy.max_request_bytes)
      throw new TokenwardenError(
        'TW_TOO_LARGE',
        `Request body larger than ${policy.max_request_bytes} bytes (api_proxy.max_request_bytes).`,
      );
    const method = c.req.method.toUpperCase();
    const body =
      method === 'GET' || method === 'HEAD' ? null : await readLimited(c.req.raw.body, policy.max_request_bytes);
    const { response, path: checked } = await forwardApiRequest(partsOf(ctx.warden), name, {
      method,
      path,
      query,
      headers: c.req.raw.headers,
      body,
      signal: c.req.raw.signal,
    });
    ctx.logger.info('api proxy', { connection: name, method, path: checked, status: response.status });
    return response;
  };
  api.all('/connections/:name/proxy', handle);
  api.all('/connections/:name/proxy/*', handle);
}
