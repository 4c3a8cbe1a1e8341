/**
 * Which endpoint URLs tokenwarden may talk to: `https:` everywhere, `http:` only on loopback
 * (127.0.0.0/8, ::1, localhost) for tests, sandboxes and local servers (RFC 8252 §8.3 spirit).
 */
import { ConfigError } from '../core/errors.js';
import type { ProviderEndpoints } from '../providers/types.js';

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

export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h);
}

/** What the rule says, in the words every refusal uses (config load and first use alike). */
export const PLAIN_HTTP_REFUSED =
  'http:// is allowed only to a loopback host (127.0.0.1, ::1, localhost); use https://';

/**
 * The one rule for every outbound URL that carries a secret (OAuth endpoints, mail API bases,
 * chat and webhook URLs): `https:`, or `http:` to a loopback host. Returns what is wrong, or
 * null when the URL may be used.
 */
export function outboundUrlProblem(value: string): string | null {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `not a valid URL: ${JSON.stringify(value.slice(0, 200))}`;
  }
  if (url.protocol === 'https:') return null;
  if (url.protocol === 'http:') return isLoopbackHost(url.hostname) ? null : PLAIN_HTTP_REFUSED;
  return `unsupported URL scheme ${url.protocol} (expected https://)`;
}

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
