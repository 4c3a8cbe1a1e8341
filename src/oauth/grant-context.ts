/**
 * What every grant of one connection shares: its endpoints and their policy, the fetch
 * openid-client uses, the lazily built openid-client `Configuration`, and `call()`, the one place
 * a protocol step's failure becomes a tokenwarden error with no secret in it.
 */
import * as oidc from 'openid-client';
import type { Clock } from '../core/clock.js';
import { ConfigError, type TokenwardenError } from '../core/errors.js';
import type { TokenSet } from '../core/types.js';
import type { ConnectionConfig } from '../config/schema.js';
import type { ProviderEndpoints, ProviderProfile } from '../providers/types.js';
import { type DiscoveryCache, defaultDiscoveryCache, discoverIssuer } from './discovery-cache.js';
import { checkEndpointUrl, checkEndpoints } from './endpoint-policy.js';
import { providerHttpFetch } from './http-client.js';
import { providerFetch } from './provider-fetch.js';
import { toTokenSet } from './token-set.js';
import { scrubError, translateError } from './translate-error.js';

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

/** One connection's grant context (built once per grant client). */
export interface GrantContext {
  readonly conn: ConnectionConfig;
  readonly profile: ProviderProfile;
  readonly deps: GrantClientDeps;
  readonly clock: Clock;
  readonly timeoutMs: number;
  /** The fetch under openid-client's (node:http client unless injected). */
  readonly baseFetch: typeof fetch;
  readonly cache: DiscoveryCache;
  readonly endpoints: ProviderEndpoints;
  /** Some endpoint is plain http (on loopback: the endpoint policy refuses anything else). */
  readonly insecure: boolean;
  /** Endpoints come from the issuer's discovery document (generic OIDC, or no token_url). */
  readonly useDiscovery: boolean;
  readonly customFetch: oidc.CustomFetch;
  readonly scopes: string[];
  configPromise?: Promise<oidc.Configuration> | undefined;
}

/** Check the endpoints (a ConfigError now, not at the first refresh) and build the context. */
export function grantContext(conn: ConnectionConfig, profile: ProviderProfile, deps: GrantClientDeps): GrantContext {
  const endpoints = profile.endpoints;
  const insecure = checkEndpoints(endpoints);
  const useDiscovery = endpoints.issuer !== undefined && (profile.id === 'oidc' || endpoints.tokenUrl === undefined);
  const timeoutMs = deps.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const baseFetch = deps.fetch ?? providerHttpFetch;
  return {
    conn,
    profile,
    deps,
    clock: deps.clock,
    timeoutMs,
    baseFetch,
    cache: deps.discoveryCache ?? defaultDiscoveryCache,
    endpoints,
    insecure,
    useDiscovery,
    customFetch: providerFetch({ fetch: baseFetch, timeoutMs, acceptJson: true, idTokenPassthrough: !useDiscovery }),
    scopes: conn.scopes,
  };
}

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

/** Discovered metadata with the configured endpoints winning; every endpoint obeys the policy. */
async function discoveredMetadata(ctx: GrantContext): Promise<oidc.ServerMetadata> {
  const { endpoints } = ctx;
  const discovered = await discoverIssuer(endpoints.issuer as string, {
    fetch: ctx.customFetch,
    timeoutMs: ctx.timeoutMs,
    now: ctx.clock.now(),
    cache: ctx.cache,
  });
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

function staticMetadata(ctx: GrantContext): oidc.ServerMetadata {
  const { endpoints, profile } = ctx;
  if (!endpoints.tokenUrl) throw new ConfigError(`provider ${profile.id} needs token_url`, { path: 'token_url' });
  return {
    issuer: staticIssuer(profile, endpoints.tokenUrl),
    token_endpoint: endpoints.tokenUrl,
    ...(endpoints.authUrl ? { authorization_endpoint: endpoints.authUrl } : {}),
    ...(endpoints.deviceUrl ? { device_authorization_endpoint: endpoints.deviceUrl } : {}),
    ...(endpoints.revokeUrl && !endpoints.revokeUrl.includes('{') ? { revocation_endpoint: endpoints.revokeUrl } : {}),
    ...(endpoints.userinfoUrl ? { userinfo_endpoint: endpoints.userinfoUrl } : {}),
  };
}

function clientAuth(conn: ConnectionConfig, md: oidc.ServerMetadata): oidc.ClientAuth {
  const secret = conn.client_secret;
  if (!secret) return oidc.None();
  const supported = md.token_endpoint_auth_methods_supported;
  if (supported && !supported.includes('client_secret_post') && supported.includes('client_secret_basic')) {
    return oidc.ClientSecretBasic(secret);
  }
  return oidc.ClientSecretPost(secret);
}

async function buildConfiguration(ctx: GrantContext): Promise<oidc.Configuration> {
  const { conn, profile } = ctx;
  if (!conn.client_id) throw new ConfigError(`required for provider ${profile.id}`, { path: 'client_id' });
  const md = ctx.useDiscovery ? await discoveredMetadata(ctx) : staticMetadata(ctx);
  const config = new oidc.Configuration(md, conn.client_id, undefined, clientAuth(conn, md));
  config[oidc.customFetch] = ctx.customFetch;
  // No per-request AbortSignal.timeout from openid-client: providerFetch times each request
  // and clears its timer when the answer is in (openid-client's would live 30 s per request).
  config.timeout = 0;
  if (ctx.insecure) oidc.allowInsecureRequests(config);
  return config;
}

/** The connection's openid-client configuration, built once; a failure is not kept. */
export function configuration(ctx: GrantContext): Promise<oidc.Configuration> {
  if (ctx.configPromise) return ctx.configPromise;
  const p = buildConfiguration(ctx);
  ctx.configPromise = p;
  p.catch(() => {
    if (ctx.configPromise === p) ctx.configPromise = undefined;
  });
  return p;
}

/** The secrets a request may carry besides its own: the client secret, also as Basic credentials. */
export function clientSecrets(conn: ConnectionConfig): string[] {
  return conn.client_secret
    ? [
        conn.client_secret,
        `${conn.client_id ?? ''}:${conn.client_secret}`,
        `${encodeURIComponent(conn.client_id ?? '')}:${encodeURIComponent(conn.client_secret)}`,
      ]
    : [];
}

/** Translate a failure of `what` once, scrubbed of `secrets` and the client secret. */
export function grantFailure(
  ctx: GrantContext,
  what: string,
  e: unknown,
  secrets: (string | undefined)[],
): TokenwardenError {
  const err = translateError(e, { what, now: ctx.clock.now(), timeoutMs: ctx.timeoutMs });
  return scrubError(err, [...clientSecrets(ctx.conn), ...secrets]);
}

/**
 * Run one protocol step; every failure leaves here as a tokenwarden error whose provider texts
 * carry none of the request's secrets (`secrets` plus the client secret).
 */
export async function call<T>(
  ctx: GrantContext,
  what: string,
  fn: (config: oidc.Configuration) => Promise<T>,
  secrets: (string | undefined)[] = [],
): Promise<T> {
  try {
    return await fn(await configuration(ctx));
  } catch (e) {
    throw grantFailure(ctx, what, e, secrets);
  }
}

export function tokens(ctx: GrantContext, body: object): TokenSet {
  return toTokenSet(body as Record<string, unknown>, ctx.clock.now());
}
