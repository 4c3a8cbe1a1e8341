/**
 * `createGrantClient`: the {@link GrantClient} of one connection, on openid-client v6. Each grant
 * is a small top-level function over the connection's {@link GrantContext} (grant-context.ts);
 * every failure is translated once, in `call()` (translate-error.ts).
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749 OAuth 2.0
 * @see https://www.rfc-editor.org/rfc/rfc7636 PKCE
 * @see https://www.rfc-editor.org/rfc/rfc8628 Device Authorization Grant
 * @see https://www.rfc-editor.org/rfc/rfc7009 Token Revocation
 */
import * as oidc from 'openid-client';
import { ConfigError, ProviderError } from '../core/errors.js';
import type { TokenSet } from '../core/types.js';
import type { ConnectionConfig } from '../config/schema.js';
import type { ProviderProfile } from '../providers/types.js';
import { pollDevice } from './device-poll.js';
import { defaultDiscoveryCache } from './discovery-cache.js';
import { checkEndpointUrl } from './endpoint-policy.js';
import { authorizationRequest, exchangeCode } from './grant-code.js';
import { call, grantContext, grantFailure, tokens, type GrantClientDeps, type GrantContext } from './grant-context.js';
import { jwtBearerConfiguration, jwtBearerGrant, readServiceAccountKey, signAssertion } from './jwt-bearer.js';
import { providerFetch } from './provider-fetch.js';
import { revoke } from './revoke.js';
import type { DeviceAuthorization, GrantClient } from './types.js';

export { authParamsFor } from './grant-code.js';
export { defaultDiscoveryCache };
export type { GrantClientDeps };

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';

export function createGrantClient(
  conn: ConnectionConfig,
  profile: ProviderProfile,
  deps: GrantClientDeps,
): GrantClient {
  const ctx = grantContext(conn, profile, deps);
  return {
    authorizationRequest: (opts) => authorizationRequest(ctx, opts),
    exchangeCode: (callbackUrl, expected) => exchangeCode(ctx, callbackUrl, expected),
    startDeviceAuthorization: (opts) => startDeviceAuthorization(ctx, opts),
    pollDeviceAuthorization: (device, opts) => pollDeviceAuthorization(ctx, device, opts),
    refresh: (refreshToken) => refresh(ctx, refreshToken),
    clientCredentials: () => clientCredentials(ctx),
    jwtBearer: () => jwtBearer(ctx),
    revoke: (token, hint) => revoke(ctx, token, hint),
  };
}

/** RFC 8628 §3.1–3.2, for the scopes asked (default: the connection's). */
export async function startDeviceAuthorization(
  ctx: GrantContext,
  opts: { scopes?: string[] } = {},
): Promise<DeviceAuthorization> {
  const { profile } = ctx;
  const wanted = opts.scopes ?? ctx.scopes;
  if (!profile.deviceFlowAllowed(wanted)) {
    throw new ProviderError('invalid_scope', {
      description: `${profile.displayName} does not allow the device flow for these scopes: ${wanted.join(' ')}`,
    });
  }
  const res = await call(ctx, 'device authorization', (config) => {
    if (!config.serverMetadata().device_authorization_endpoint) {
      throw new ProviderError('unsupported_grant_type', {
        description: `${profile.displayName} has no device authorization endpoint`,
      });
    }
    return oidc.initiateDeviceAuthorization(config, wanted.length ? { scope: wanted.join(' ') } : {});
  });
  const device: DeviceAuthorization = {
    deviceCode: res.device_code,
    userCode: res.user_code,
    verificationUri: res.verification_uri,
    expiresAt: ctx.clock.now() + res.expires_in * 1000,
    interval: typeof res.interval === 'number' ? res.interval : (ctx.deps.deviceIntervalSeconds ?? 5),
  };
  if (typeof res.verification_uri_complete === 'string') device.verificationUriComplete = res.verification_uri_complete;
  return device;
}

/** RFC 8628 §3.4–3.5: poll (device-poll.ts) until tokens, a refusal or the signal. */
export function pollDeviceAuthorization(
  ctx: GrantContext,
  device: DeviceAuthorization,
  opts: { signal?: AbortSignal } = {},
): Promise<TokenSet> {
  return pollDevice(device, {
    clock: ctx.clock,
    ...(opts.signal ? { signal: opts.signal } : {}),
    request: () =>
      call(
        ctx,
        'device authorization poll',
        (config) => oidc.genericGrantRequest(config, DEVICE_GRANT, { device_code: device.deviceCode }),
        [device.deviceCode],
      ).then((body) => tokens(ctx, body)),
  });
}

/** RFC 6749 §6. */
export async function refresh(ctx: GrantContext, refreshToken: string): Promise<TokenSet> {
  const body = await call(ctx, 'token refresh', (config) => oidc.refreshTokenGrant(config, refreshToken), [
    refreshToken,
  ]);
  return tokens(ctx, body);
}

/** RFC 6749 §4.4. */
export async function clientCredentials(ctx: GrantContext): Promise<TokenSet> {
  const scope = ctx.scopes.length ? { scope: ctx.scopes.join(' ') } : {};
  const body = await call(ctx, 'client credentials grant', (config) => oidc.clientCredentialsGrant(config, scope));
  return tokens(ctx, body);
}

/** RFC 7523 §2.1 with a service account key (jwt-bearer.ts). */
export async function jwtBearer(ctx: GrantContext): Promise<TokenSet> {
  const { conn, clock } = ctx;
  if (!conn.key_file) throw new ConfigError('required for kind service_account', { path: 'key_file' });
  const key = await readServiceAccountKey(conn.key_file, ctx.deps.baseDir);
  // An explicit token_url wins, then the key file's token_uri, then the profile's endpoint.
  const tokenUrl = conn.token_url ?? key.token_uri ?? ctx.endpoints.tokenUrl ?? GOOGLE_TOKEN_URL;
  checkEndpointUrl(tokenUrl, conn.token_url ? 'token_url' : 'key_file');
  const assertion = await signAssertion(key, {
    audience: tokenUrl,
    scopes: ctx.scopes,
    subject: conn.subject,
    now: clock.now(),
  });
  const fetch = providerFetch({
    fetch: ctx.baseFetch,
    timeoutMs: ctx.timeoutMs,
    acceptJson: true,
    idTokenPassthrough: true,
  });
  try {
    return tokens(ctx, await jwtBearerGrant(jwtBearerConfiguration(tokenUrl, key.client_email, fetch), assertion));
  } catch (e) {
    throw grantFailure(ctx, 'service account token request', e, [assertion]);
  }
}
