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

/**
 * Check one URL; returns true when it is plain http (on loopback). Throws ConfigError naming
 * `key` for a non-loopback http URL, another scheme, or garbage.
 */
export function checkEndpointUrl(value: string, key: string): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`not a valid URL: ${JSON.stringify(value)}`, { path: key });
  }
  if (url.protocol === 'https:') return false;
  if (url.protocol === 'http:') {
    if (isLoopbackHost(url.hostname)) return true;
    throw new ConfigError(
      `http:// is allowed only for loopback hosts (127.0.0.1, ::1, localhost); use https:// for ${url.host}`,
      {
        path: key,
      },
    );
  }
  throw new ConfigError(`unsupported URL scheme ${url.protocol}`, { path: key });
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
