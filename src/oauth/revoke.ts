/**
 * Token revocation: RFC 7009 through openid-client, and GitHub's own endpoint.
 * @see https://www.rfc-editor.org/rfc/rfc7009 Token Revocation
 */
import * as oidc from 'openid-client';
import { ConfigError, ProviderError, TokenwardenError } from '../core/errors.js';
import { checkEndpointUrl } from './endpoint-policy.js';
import { call, clientSecrets, type GrantContext } from './grant-context.js';
import { errorFromResponse, scrubError, translateError } from './translate-error.js';

export async function revoke(ctx: GrantContext, token: string, hint?: 'access_token' | 'refresh_token'): Promise<void> {
  const { profile } = ctx;
  if (profile.id === 'github' && ctx.endpoints.revokeUrl?.includes('{client_id}')) {
    try {
      await revokeGitHub(ctx, token);
    } catch (e) {
      throw e instanceof TokenwardenError ? scrubError(e, [...clientSecrets(ctx.conn), token]) : e;
    }
    return;
  }
  await call(
    ctx,
    'token revocation',
    (config) => {
      if (!config.serverMetadata().revocation_endpoint) {
        throw new ProviderError('unsupported_token_type', {
          description: `${profile.displayName} has no token revocation endpoint; remove the app's access in the account settings`,
        });
      }
      return oidc.tokenRevocation(config, token, hint ? { token_type_hint: hint } : {});
    },
    [token],
  );
}

/**
 * GitHub has no RFC 7009 endpoint: `DELETE /applications/{client_id}/token` with the app's
 * Basic credentials and the token in the JSON body.
 * @see https://docs.github.com/en/rest/apps/oauth-applications#delete-an-app-token
 */
async function revokeGitHub(ctx: GrantContext, token: string): Promise<void> {
  const { conn, clock } = ctx;
  if (!conn.client_id || !conn.client_secret)
    throw new ConfigError('GitHub token revocation needs client_id and client_secret', { path: 'client_secret' });
  const url = (ctx.endpoints.revokeUrl as string).replace('{client_id}', encodeURIComponent(conn.client_id));
  checkEndpointUrl(url, 'revoke_url');
  let res: Response;
  let text: string;
  try {
    res = await ctx.customFetch(url, {
      method: 'DELETE',
      headers: {
        authorization: `Basic ${Buffer.from(`${conn.client_id}:${conn.client_secret}`).toString('base64')}`,
        accept: 'application/vnd.github+json',
        'content-type': 'application/json',
      },
      body: JSON.stringify({ access_token: token }),
      redirect: 'manual',
    });
    text = await res.text();
  } catch (e) {
    throw translateError(e, { what: 'token revocation', now: clock.now(), timeoutMs: ctx.timeoutMs });
  }
  if (res.status === 204 || res.status === 404) return; // 404: already gone
  const err = errorFromResponse('token revocation', res, text, clock.now());
  throw err ?? new ProviderError('revocation_failed', { status: res.status });
}
