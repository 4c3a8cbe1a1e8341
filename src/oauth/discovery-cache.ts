/**
 * OIDC Discovery / RFC 8414 metadata cached per issuer (and fetch implementation), so many
 * connections to one issuer and every refresh do not re-fetch `.well-known` documents.
 * Failures are not cached.
 */
import type { ServerMetadata } from 'openid-client';

export class DiscoveryCache {
  private readonly entries = new Map<string, { at: number; value: Promise<ServerMetadata> }>();
  constructor(private readonly ttlMs = 3_600_000) {}

  get(issuer: string, now: number, load: () => Promise<ServerMetadata>): Promise<ServerMetadata> {
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
