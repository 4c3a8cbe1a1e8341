/**
 * The authorization code grant with PKCE (RFC 6749 §4.1, RFC 7636): the link a human opens, and
 * the exchange of the redirect URL they end on.
 */
import * as oidc from 'openid-client';
import { ConfigError, InputError } from '../core/errors.js';
import type { TokenSet } from '../core/types.js';
import type { ProviderProfile } from '../providers/types.js';
import { call, type GrantContext, tokens } from './grant-context.js';
import type { AuthorizationRequest, GrantClient } from './types.js';

/**
 * Extra authorization parameters: the profile's — what the provider needs to issue a refresh
 * token (Google: access_type=offline, prompt=consent) — win over `auth_params`; a prompt that
 * already asks for consent (`consent select_account`) is kept as given.
 */
export function authParamsFor(
  profile: Pick<ProviderProfile, 'authParams'>,
  ...extra: Array<Record<string, string> | undefined>
): Record<string, string> {
  const out: Record<string, string> = Object.assign({}, ...extra);
  for (const [k, v] of Object.entries(profile.authParams)) {
    if (k === 'prompt' && (out[k] ?? '').split(/\s+/).includes(v)) continue;
    out[k] = v;
  }
  return out;
}

export async function authorizationRequest(
  ctx: GrantContext,
  opts: Parameters<GrantClient['authorizationRequest']>[0] = {},
): Promise<AuthorizationRequest> {
  const { conn, profile } = ctx;
  const redirectUri = opts.redirectUri ?? conn.redirect_uri;
  if (!redirectUri) throw new ConfigError('required for the authorization code flow', { path: 'redirect_uri' });
  const codeVerifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = ctx.useDiscovery && ctx.scopes.includes('openid') ? oidc.randomNonce() : undefined;
  const codeChallenge = await oidc.calculatePKCECodeChallenge(codeVerifier);
  const url = await call(ctx, 'authorization request', (config) => {
    if (!config.serverMetadata().authorization_endpoint)
      throw new ConfigError(`provider ${profile.id} has no authorization endpoint`, { path: 'auth_url' });
    return Promise.resolve(
      oidc.buildAuthorizationUrl(config, {
        ...authParamsFor(profile, conn.auth_params, opts.extraParams),
        redirect_uri: redirectUri,
        scope: ctx.scopes.join(' '),
        code_challenge: codeChallenge,
        code_challenge_method: 'S256',
        state,
        ...(nonce ? { nonce } : {}),
      }),
    );
  });
  const req: AuthorizationRequest = { url: url.href, state, codeVerifier, redirectUri };
  if (nonce) req.nonce = nonce;
  return req;
}

/** What the redirect URL says before any exchange: an error, a missing or foreign state, no code. */
function checkCallback(params: URLSearchParams, expectedState: string): void {
  const error = params.get('error');
  if (error) {
    const desc = params.get('error_description');
    throw new InputError(`The authorization was not granted: ${error}${desc ? ` (${desc.slice(0, 200)})` : ''}.`);
  }
  const state = params.get('state');
  if (!state) throw new InputError('The URL carries no state parameter: paste the full address the browser ended on.');
  if (state !== expectedState)
    throw new InputError('The state in this URL does not match the open authorization request.');
  if (!params.get('code')) throw new InputError('The URL carries no authorization code.');
}

export async function exchangeCode(
  ctx: GrantContext,
  callbackUrl: URL,
  expected: Parameters<GrantClient['exchangeCode']>[1],
): Promise<TokenSet> {
  const params = callbackUrl.searchParams;
  checkCallback(params, expected.state);
  const url = new URL(callbackUrl.href);
  // RFC 9207 `iss` is checked only against discovered issuers (static ones are not the ID-token issuer).
  if (!ctx.useDiscovery) url.searchParams.delete('iss');
  const body = await call(
    ctx,
    'authorization code exchange',
    (config) =>
      oidc.authorizationCodeGrant(
        config,
        url,
        {
          pkceCodeVerifier: expected.codeVerifier,
          expectedState: expected.state,
          ...(expected.nonce ? { expectedNonce: expected.nonce } : {}),
        },
        { redirect_uri: expected.redirectUri },
      ),
    [params.get('code') ?? undefined, expected.codeVerifier, expected.nonce],
  );
  return tokens(ctx, body);
}
