/**
 * Provider profiles as data: endpoints, flows, rotation, lifetime rules,
 * device-flow scope rules, health probe, error reading. Built in: google, microsoft, github,
 * oidc (discovery), oauth2 (explicit endpoints). See providers/index.ts `resolveProfile`.
 */
import type { DiagnosedCause } from '../core/errors.js';
import type { ConnectionConfig } from '../config/schema.js';

export interface ProviderEndpoints {
  /** OIDC issuer (discovery) — when set, missing endpoints come from discovery. */
  issuer?: string | undefined;
  authUrl?: string | undefined;
  tokenUrl?: string | undefined;
  deviceUrl?: string | undefined;
  revokeUrl?: string | undefined;
  userinfoUrl?: string | undefined;
  introspectionUrl?: string | undefined;
  /** Base of the provider's REST API used by the probe. */
  apiBase?: string | undefined;
}

export interface ProbeSpec {
  /** Path relative to apiBase (or absolute URL), GET with bearer. */
  url: string;
  /** JSON field that names the account (e.g. `emailAddress`, `userPrincipalName`, `login`). */
  accountField?: string | undefined;
  /** Scopes of which at least one must be granted for this probe to be meaningful. */
  requiresAnyScope?: string[] | undefined;
}

export interface ProviderProfile {
  id: 'google' | 'microsoft' | 'github' | 'oidc' | 'oauth2';
  displayName: string;
  endpoints: ProviderEndpoints;
  /** Refresh tokens are replaced on every use (Microsoft, GitHub, oidc-provider with rotation). */
  rotatesRefreshTokens: boolean;
  /** Device flow allowed for these scopes? */
  deviceFlowAllowed(scopes: string[]): boolean;
  /** Extra authorization params required to get a refresh token (Google: access_type, prompt). */
  authParams: Record<string, string>;
  /**
   * Predicted refresh-token death in epoch ms (or null: no known limit), from the rules:
   * Google testing → grantedAt + 7 d unless scopes only openid/email/profile;
   * Microsoft → lastUsedAt + 90 d; GitHub → refreshExpiresAt from the provider or +6 months.
   */
  predictRefreshDeath(input: {
    conn: ConnectionConfig;
    scopes: string[];
    grantedAt: number | null;
    lastUsedAt: number | null;
    announcedRefreshExpiresAt: number | null;
  }): number | null;
  /** Health probes in order of preference; the first whose scope requirement fits is used. */
  probes: ProbeSpec[];
  /**
   * Diagnose a definitive token-endpoint refusal (invalid_grant and friends) into a cause a
   * human can act on. `context` lets the diagnosis use known facts (grant age, app_status).
   */
  diagnose(input: {
    error: string;
    description?: string | undefined;
    conn: ConnectionConfig;
    grantedAt: number | null;
    lastUsedAt: number | null;
    now: number;
  }): DiagnosedCause;
}
