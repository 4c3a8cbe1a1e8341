/**
 * `createGrantClient`: the {@link GrantClient} of one connection, on openid-client v6.
 * Every grant goes through `call()`, which translates failures once (translate-error.ts).
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749 OAuth 2.0
 * @see https://www.rfc-editor.org/rfc/rfc7636 PKCE
 * @see https://www.rfc-editor.org/rfc/rfc8628 Device Authorization Grant
 * @see https://www.rfc-editor.org/rfc/rfc7009 Token Revocation
 */
import * as oidc from 'openid-client';
import type { Clock } from '../core/clock.js';
import { ConfigError, InputError, ProviderError, TokenwardenError } from '../core/errors.js';
import type { TokenSet } from '../core/types.js';
import type { ConnectionConfig } from '../config/schema.js';
import type { ProviderEndpoints, ProviderProfile } from '../providers/types.js';
import type { AuthorizationRequest, DeviceAuthorization, GrantClient } from './types.js';
import { checkEndpointUrl, checkEndpoints } from './endpoint-policy.js';
import { type DiscoveryCache, defaultDiscoveryCache, discoverIssuer } from './discovery-cache.js';
import { providerHttpFetch } from './http-client.js';
import { providerFetch } from './provider-fetch.js';
import { toTokenSet } from './token-set.js';
import { errorFromResponse, scrubError, translateError } from './translate-error.js';
import { pollDevice } from './device-poll.js';
import { jwtBearerConfiguration, jwtBearerGrant, readServiceAccountKey, signAssertion } from './jwt-bearer.js';

export interface GrantClientDeps {
  /** Injected for tests and proxies (default: the node:http client in http-client.ts). */
  fetch?: typeof fetch | undefined;
  clock: Clock;
  /** Per-request timeout (default 15 s). */
  timeoutMs?: number | undefined;
  /** Directory relative paths (key_file) resolve against. */
  baseDir?: string | undefined;
  /** Device-flow poll interval in seconds when the provider sends none (RFC 8628 §3.2 default 5). */
  deviceIntervalSeconds?: number | undefined;
  /** Shared metadata cache (default: one per process). */
  discoveryCache?: DiscoveryCache | undefined;
}

const DEFAULT_TIMEOUT_MS = 15_000;
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';

export { defaultDiscoveryCache };

/** Static issuer identifiers for profiles used without discovery (see provider-fetch.ts on ID tokens). */
function staticIssuer(profile: ProviderProfile, tokenUrl: string): string {
  switch (profile.id) {
    case 'google':
      return 'https://accounts.google.com';
    case 'github':
      return 'https://github.com';
    default:
      return new URL(tokenUrl).origin;
  }
}

export function createGrantClient(
  conn: ConnectionConfig,
  profile: ProviderProfile,
  deps: GrantClientDeps,
): GrantClient {
  const clock = deps.clock;
  const timeoutMs = deps.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const baseFetch = deps.fetch ?? providerHttpFetch;
  const cache = deps.discoveryCache ?? defaultDiscoveryCache;
  const endpoints = profile.endpoints;
  const insecure = checkEndpoints(endpoints); // ConfigError now, not at the first refresh
  const useDiscovery = endpoints.issuer !== undefined && (profile.id === 'oidc' || endpoints.tokenUrl === undefined);
  const customFetch = providerFetch({
    fetch: baseFetch,
    timeoutMs,
    acceptJson: true,
    idTokenPassthrough: !useDiscovery,
  });
  const scopes = conn.scopes;
  const wantsNonce = useDiscovery && scopes.includes('openid');

  let configPromise: Promise<oidc.Configuration> | undefined;

  async function serverMetadata(): Promise<oidc.ServerMetadata> {
    if (useDiscovery) {
      const issuer = endpoints.issuer as string;
      const discovered = await discoverIssuer(issuer, { fetch: customFetch, timeoutMs, now: clock.now(), cache });
      const merged: oidc.ServerMetadata = {
        ...discovered,
        ...(endpoints.authUrl ? { authorization_endpoint: endpoints.authUrl } : {}),
        ...(endpoints.tokenUrl ? { token_endpoint: endpoints.tokenUrl } : {}),
        ...(endpoints.deviceUrl ? { device_authorization_endpoint: endpoints.deviceUrl } : {}),
        ...(endpoints.revokeUrl ? { revocation_endpoint: endpoints.revokeUrl } : {}),
        ...(endpoints.userinfoUrl ? { userinfo_endpoint: endpoints.userinfoUrl } : {}),
      };
      // Discovered endpoints obey the same scheme policy, reported against `issuer`.
      for (const v of [
        merged.authorization_endpoint,
        merged.token_endpoint,
        merged.device_authorization_endpoint,
        merged.revocation_endpoint,
      ]) {
        if (v) checkEndpointUrl(v, 'issuer');
      }
      return merged;
    }
    if (!endpoints.tokenUrl) throw new ConfigError(`provider ${profile.id} needs token_url`, { path: 'token_url' });
    return {
      issuer: staticIssuer(profile, endpoints.tokenUrl),
      token_endpoint: endpoints.tokenUrl,
      ...(endpoints.authUrl ? { authorization_endpoint: endpoints.authUrl } : {}),
      ...(endpoints.deviceUrl ? { device_authorization_endpoint: endpoints.deviceUrl } : {}),
      ...(endpoints.revokeUrl && !endpoints.revokeUrl.includes('{')
        ? { revocation_endpoint: endpoints.revokeUrl }
        : {}),
      ...(endpoints.userinfoUrl ? { userinfo_endpoint: endpoints.userinfoUrl } : {}),
    };
  }

  function clientAuth(md: oidc.ServerMetadata): oidc.ClientAuth {
    const secret = conn.client_secret;
    if (!secret) return oidc.None();
    const supported = md.token_endpoint_auth_methods_supported;
    if (supported && !supported.includes('client_secret_post') && supported.includes('client_secret_basic')) {
      return oidc.ClientSecretBasic(secret);
    }
    return oidc.ClientSecretPost(secret);
  }

  function configuration(): Promise<oidc.Configuration> {
    configPromise ??= (async () => {
      if (!conn.client_id) throw new ConfigError(`required for provider ${profile.id}`, { path: 'client_id' });
      const md = await serverMetadata();
      const config = new oidc.Configuration(md, conn.client_id, undefined, clientAuth(md));
      config[oidc.customFetch] = customFetch;
      // No per-request AbortSignal.timeout from openid-client: providerFetch times each request
      // and clears its timer when the answer is in (openid-client's would live 30 s per request).
      config.timeout = 0;
      if (insecure) oidc.allowInsecureRequests(config);
      return config;
    })();
    configPromise.catch(() => {
      configPromise = undefined;
    });
    return configPromise;
  }

  /** The secrets a request may carry besides `extra`: the client secret, also as Basic credentials. */
  const clientSecrets = (): string[] =>
    conn.client_secret
      ? [
          conn.client_secret,
          `${conn.client_id ?? ''}:${conn.client_secret}`,
          `${encodeURIComponent(conn.client_id ?? '')}:${encodeURIComponent(conn.client_secret)}`,
        ]
      : [];

  /**
   * Run one protocol step; every failure leaves here as a tokenwarden error whose provider texts
   * carry none of the request's secrets (`secrets` plus the client secret).
   */
  async function call<T>(
    what: string,
    fn: (config: oidc.Configuration) => Promise<T>,
    secrets: (string | undefined)[] = [],
  ): Promise<T> {
    try {
      return await fn(await configuration());
    } catch (e) {
      throw scrubError(translateError(e, { what, now: clock.now(), timeoutMs }), [...clientSecrets(), ...secrets]);
    }
  }

  const tokens = (body: object): TokenSet => toTokenSet(body as Record<string, unknown>, clock.now());

  return {
    async authorizationRequest(opts = {}) {
      const redirectUri = opts.redirectUri ?? conn.redirect_uri;
      if (!redirectUri) throw new ConfigError('required for the authorization code flow', { path: 'redirect_uri' });
      const codeVerifier = oidc.randomPKCECodeVerifier();
      const state = oidc.randomState();
      const nonce = wantsNonce ? oidc.randomNonce() : undefined;
      const codeChallenge = await oidc.calculatePKCECodeChallenge(codeVerifier);
      const url = await call('authorization request', (config) => {
        if (!config.serverMetadata().authorization_endpoint)
          throw new ConfigError(`provider ${profile.id} has no authorization endpoint`, { path: 'auth_url' });
        return Promise.resolve(
          oidc.buildAuthorizationUrl(config, {
            ...authParamsFor(profile, conn.auth_params, opts.extraParams),
            redirect_uri: redirectUri,
            scope: scopes.join(' '),
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
    },

    async exchangeCode(callbackUrl, expected) {
      const params = callbackUrl.searchParams;
      const error = params.get('error');
      if (error) {
        const desc = params.get('error_description');
        throw new InputError(`The authorization was not granted: ${error}${desc ? ` (${desc.slice(0, 200)})` : ''}.`);
      }
      const state = params.get('state');
      if (!state)
        throw new InputError('The URL carries no state parameter: paste the full address the browser ended on.');
      if (state !== expected.state)
        throw new InputError('The state in this URL does not match the open authorization request.');
      if (!params.get('code')) throw new InputError('The URL carries no authorization code.');
      const url = new URL(callbackUrl.href);
      // RFC 9207 `iss` is checked only against discovered issuers (static ones are not the ID-token issuer).
      if (!useDiscovery) url.searchParams.delete('iss');
      const body = await call(
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
      return tokens(body);
    },

    async startDeviceAuthorization(opts = {}) {
      const wanted = opts.scopes ?? scopes;
      if (!profile.deviceFlowAllowed(wanted)) {
        throw new ProviderError('invalid_scope', {
          description: `${profile.displayName} does not allow the device flow for these scopes: ${wanted.join(' ')}`,
        });
      }
      const res = await call('device authorization', (config) => {
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
        expiresAt: clock.now() + res.expires_in * 1000,
        interval: typeof res.interval === 'number' ? res.interval : (deps.deviceIntervalSeconds ?? 5),
      };
      if (typeof res.verification_uri_complete === 'string')
        device.verificationUriComplete = res.verification_uri_complete;
      return device;
    },

    pollDeviceAuthorization(device, opts = {}) {
      return pollDevice(device, {
        clock,
        ...(opts.signal ? { signal: opts.signal } : {}),
        request: () =>
          call(
            'device authorization poll',
            (config) => oidc.genericGrantRequest(config, DEVICE_GRANT, { device_code: device.deviceCode }),
            [device.deviceCode],
          ).then(tokens),
      });
    },

    async refresh(refreshToken) {
      return tokens(
        await call('token refresh', (config) => oidc.refreshTokenGrant(config, refreshToken), [refreshToken]),
      );
    },

    async clientCredentials() {
      return tokens(
        await call('client credentials grant', (config) =>
          oidc.clientCredentialsGrant(config, scopes.length ? { scope: scopes.join(' ') } : {}),
        ),
      );
    },

    async jwtBearer() {
      if (!conn.key_file) throw new ConfigError('required for kind service_account', { path: 'key_file' });
      const key = await readServiceAccountKey(conn.key_file, deps.baseDir);
      // An explicit token_url wins, then the key file's token_uri, then the profile's endpoint.
      const tokenUrl = conn.token_url ?? key.token_uri ?? endpoints.tokenUrl ?? GOOGLE_TOKEN_URL;
      checkEndpointUrl(tokenUrl, conn.token_url ? 'token_url' : 'key_file');
      const assertion = await signAssertion(key, {
        audience: tokenUrl,
        scopes,
        subject: conn.subject,
        now: clock.now(),
      });
      const fetch = providerFetch({ fetch: baseFetch, timeoutMs, acceptJson: true, idTokenPassthrough: true });
      const config = jwtBearerConfiguration(tokenUrl, key.client_email, fetch);
      try {
        return tokens(await jwtBearerGrant(config, assertion));
      } catch (e) {
        const what = 'service account token request';
        throw scrubError(translateError(e, { what, now: clock.now(), timeoutMs }), [...clientSecrets(), assertion]);
      }
    },

    async revoke(token, hint) {
      if (profile.id === 'github' && endpoints.revokeUrl?.includes('{client_id}')) {
        await revokeGitHub(token, endpoints);
        return;
      }
      await call(
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
    },
  };

  /**
   * GitHub has no RFC 7009 endpoint: `DELETE /applications/{client_id}/token` with the app's
   * Basic credentials and the token in the JSON body.
   * @see https://docs.github.com/en/rest/apps/oauth-applications#delete-an-app-token
   */
  async function revokeGitHub(token: string, ep: ProviderEndpoints): Promise<void> {
    try {
      await revokeGitHubRaw(token, ep);
    } catch (e) {
      throw e instanceof TokenwardenError ? scrubError(e, [...clientSecrets(), token]) : e;
    }
  }

  async function revokeGitHubRaw(token: string, ep: ProviderEndpoints): Promise<void> {
    if (!conn.client_id || !conn.client_secret)
      throw new ConfigError('GitHub token revocation needs client_id and client_secret', { path: 'client_secret' });
    const url = (ep.revokeUrl as string).replace('{client_id}', encodeURIComponent(conn.client_id));
    checkEndpointUrl(url, 'revoke_url');
    let res: Response;
    let text: string;
    try {
      res = await customFetch(url, {
        method: 'DELETE',
        headers: {
          authorization: `Basic ${Buffer.from(`${conn.client_id}:${conn.client_secret}`).toString('base64')}`,
          accept: 'application/vnd.github+json',
          'content-type': 'application/json',
        },
        body: JSON.stringify({ access_token: token }),
        redirect: 'manual',
      } as unknown as oidc.CustomFetchOptions);
      text = await res.text();
    } catch (e) {
      throw translateError(e, { what: 'token revocation', now: clock.now(), timeoutMs });
    }
    if (res.status === 204 || res.status === 404) return; // 404: already gone
    const err = errorFromResponse('token revocation', res, text, clock.now());
    throw err ?? new ProviderError('revocation_failed', { status: res.status });
  }
}

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
