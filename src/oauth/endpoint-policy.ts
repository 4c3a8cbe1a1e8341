/**
 * Which endpoint URLs tokenwarden may talk to: `https:` everywhere, `http:` only on loopback
 * (127.0.0.0/8, ::1, localhost) for tests, sandboxes and local servers (RFC 8252 §8.3 spirit).
 * The rule itself is part of the shared HTTP policy (core/http-policy.ts); this module applies it
 * to a provider's endpoints and names the config key in its errors.
 */
import { ConfigError } from '../core/errors.js';
import { outboundUrlProblem } from '../core/http-policy.js';
import type { ProviderEndpoints } from '../providers/types.js';

export { isLoopbackHost, outboundUrlProblem, PLAIN_HTTP_REFUSED } from '../core/http-policy.js';

/** Config key naming each endpoint (for error messages). */
export const ENDPOINT_KEYS: Record<keyof ProviderEndpoints, string> = {
  issuer: 'issuer',
  authUrl: 'auth_url',
  tokenUrl: 'token_url',
  deviceUrl: 'device_url',
  revokeUrl: 'revoke_url',
  userinfoUrl: 'userinfo_url',
  introspectionUrl: 'introspection_url',
  apiBase: 'api_base',
};

/**
 * Check one URL; returns true when it is plain http (on loopback). Throws ConfigError naming
 * `key` for a non-loopback http URL, another scheme, or garbage.
 */
export function checkEndpointUrl(value: string, key: string): boolean {
  const problem = outboundUrlProblem(value);
  if (problem) throw new ConfigError(problem, { path: key });
  return new URL(value).protocol === 'http:';
}

/** Check every set endpoint; returns true when any is plain http (on loopback). */
export function checkEndpoints(endpoints: ProviderEndpoints, keyOverride?: string): boolean {
  let insecure = false;
  for (const [k, v] of Object.entries(endpoints) as Array<[keyof ProviderEndpoints, string | undefined]>) {
    if (v === undefined) continue;
    if (v.includes('{')) continue; // templated (GitHub revocation), checked after expansion
    if (checkEndpointUrl(v, keyOverride ?? ENDPOINT_KEYS[k])) insecure = true;
  }
  return insecure;
}
