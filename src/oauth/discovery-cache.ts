/**
 * OIDC Discovery / RFC 8414 metadata cached per issuer, so many connections to one issuer, every
 * refresh and every probe do not re-fetch `.well-known` documents. Failures are not cached.
 */
import * as oidc from 'openid-client';
import { ConfigError } from '../core/errors.js';
import { outboundUrlProblem } from './endpoint-policy.js';

export class DiscoveryCache {
  private readonly entries = new Map<string, { at: number; value: Promise<oidc.ServerMetadata> }>();
  constructor(private readonly ttlMs = 3_600_000) {}

  get(issuer: string, now: number, load: () => Promise<oidc.ServerMetadata>): Promise<oidc.ServerMetadata> {
    const hit = this.entries.get(issuer);
    if (hit && now - hit.at < this.ttlMs) return hit.value;
    const value = load();
    this.entries.set(issuer, { at: now, value });
    value.catch(() => {
      if (this.entries.get(issuer)?.value === value) this.entries.delete(issuer);
    });
    return value;
  }

  clear(): void {
    this.entries.clear();
  }
}

/** Process-wide default: discovery documents are public and per issuer. */
export const defaultDiscoveryCache = new DiscoveryCache();

export interface DiscoverOptions {
  /** The fetch openid-client uses (providerFetch: timeout, JSON, provider quirks). */
  fetch: oidc.CustomFetch;
  /** Quoted to openid-client (seconds, rounded up, plus one); the fetch enforces its own. */
  timeoutMs: number;
  now: number;
  cache?: DiscoveryCache | undefined;
}

/**
 * The issuer's metadata (OpenID Connect Discovery, RFC 8414), through the cache. The issuer obeys
 * the endpoint policy (https, or http to loopback): a ConfigError naming `issuer` otherwise.
 * The returned endpoints are the provider's; callers check the ones they use
 * ({@link outboundUrlProblem}) before sending a secret there.
 */
export function discoverIssuer(issuer: string, o: DiscoverOptions): Promise<oidc.ServerMetadata> {
  const problem = outboundUrlProblem(issuer);
  if (problem) return Promise.reject(new ConfigError(problem, { path: 'issuer' }));
  const insecure = new URL(issuer).protocol === 'http:';
  return (o.cache ?? defaultDiscoveryCache).get(issuer, o.now, async () => {
    const c = await oidc.discovery(new URL(issuer), 'discovery', undefined, undefined, {
      [oidc.customFetch]: o.fetch,
      execute: insecure ? [oidc.allowInsecureRequests] : [],
      timeout: Math.ceil(o.timeoutMs / 1000) + 1,
    });
    return c.serverMetadata();
  });
}
