/**
 * Provider profiles (adding one: docs/architecture.md, "Where to add"): `resolveProfile(conn)` picks the built-in profile and applies
 * the connection's endpoint overrides (`auth_url`, `token_url`, `device_url`, `revoke_url`,
 * `userinfo_url`, `api_base`, `issuer`) so tests and self-hosted servers can stand in.
 */
import type { ConnectionConfig } from '../config/schema.js';
import type { ProbeSpec, ProviderEndpoints, ProviderProfile } from './types.js';
import { googleProfile } from './google.js';
import { microsoftProfile } from './microsoft.js';
import { githubProfile } from './github.js';
import { oauth2Profile, oidcProfile } from './generic.js';

export type { ProviderProfile, ProviderEndpoints, ProbeSpec } from './types.js';
export { CAUSES, cause, genericCause, type CauseKey } from './causes.js';
export { GOOGLE_BASIC_SCOPES, GOOGLE_DEVICE_SCOPES, GMAIL_PROFILE_SCOPES, onlyBasicScopes } from './google.js';
export { aadstsCode } from './microsoft.js';
export { googleProfile, microsoftProfile, githubProfile, oidcProfile, oauth2Profile };

const BUILDERS: Record<ProviderProfile['id'], (conn: ConnectionConfig) => ProviderProfile> = {
  google: googleProfile,
  microsoft: microsoftProfile,
  github: githubProfile,
  oidc: oidcProfile,
  oauth2: oauth2Profile,
};

/** The profile for a connection, with its endpoint overrides applied. */
export function resolveProfile(conn: ConnectionConfig): ProviderProfile {
  const profile = BUILDERS[conn.provider](conn);
  const overrides: ProviderEndpoints = {
    issuer: conn.issuer,
    authUrl: conn.auth_url,
    tokenUrl: conn.token_url,
    deviceUrl: conn.device_url,
    revokeUrl: conn.revoke_url,
    userinfoUrl: conn.userinfo_url,
    apiBase: conn.api_base,
  };
  const endpoints: ProviderEndpoints = { ...profile.endpoints };
  for (const [k, v] of Object.entries(overrides) as Array<[keyof ProviderEndpoints, string | undefined]>) {
    if (v !== undefined) endpoints[k] = v;
  }
  // A userinfo override also moves the userinfo probe (absolute URLs are used as given).
  const probes = profile.probes.map((p) =>
    conn.userinfo_url && /userinfo/.test(p.url) ? { ...p, url: conn.userinfo_url } : p,
  );
  return { ...profile, endpoints, probes };
}

/** Whether `granted` satisfies a scope requirement (case-insensitive; Graph's short and URL forms match). */
function hasScope(granted: string[], wanted: string): boolean {
  const norm = (s: string): string => s.toLowerCase().replace(/^https:\/\/graph\.microsoft\.com\//, '');
  const w = norm(wanted);
  return granted.some((g) => norm(g) === w);
}

/** The first probe whose scope requirement the granted scopes meet (null: no meaningful probe). */
export function probeFor(profile: ProviderProfile, grantedScopes: string[]): ProbeSpec | null {
  for (const probe of profile.probes) {
    if (!probe.requiresAnyScope || probe.requiresAnyScope.some((s) => hasScope(grantedScopes, s))) return probe;
  }
  return null;
}

/** Absolute URL of a probe: absolute URLs as given, paths against the profile's `apiBase` (or userinfo). */
export function probeUrl(
  profile: ProviderProfile,
  probe: ProbeSpec,
  endpoints: ProviderEndpoints = profile.endpoints,
): string | null {
  if (/^https?:\/\//.test(probe.url)) return probe.url;
  if (probe.url === 'userinfo') return endpoints.userinfoUrl ?? null;
  const base = endpoints.apiBase;
  if (!base) return null;
  return new URL(probe.url, base.endsWith('/') ? base : `${base}/`).toString();
}
