/**
 * The keeper's in-memory copy of each connection's current access token, by connection index
 * (ConnectionRuntime.index), in columns: the token and its type in arrays, the expiry and refresh
 * times in one Float64Array (NaN: none). About 32 bytes per connection plus the token itself,
 * against ~210 for a Map entry, an object, a settled promise and two boxed numbers each — which
 * at 100,000 connections was a fifth of the daemon's live heap (bench/scale.ts).
 */
export class TokenCache {
  private readonly tokens: Array<string | null> = [];
  private readonly types: string[] = [];
  private times = new Float64Array(256);

  /** `slot` if it holds a token that is not yet due for refresh at `now`, else -1. */
  fresh(slot: number, now: number): number {
    if (!this.tokens[slot]) return -1; // never set, forgotten, or slot -1
    const refreshAt = this.times[2 * slot + 1] as number;
    return Number.isNaN(refreshAt) || now < refreshAt ? slot : -1;
  }

  token(slot: number): string {
    return this.tokens[slot] as string;
  }

  tokenType(slot: number): string {
    return this.types[slot] as string;
  }

  expiresAt(slot: number): number | null {
    const t = this.times[2 * slot] as number;
    return Number.isNaN(t) ? null : t;
  }

  set(slot: number, token: string, tokenType: string, expiresAt: number | null, refreshAt: number | null): void {
    while (this.tokens.length <= slot) {
      this.tokens.push(null);
      this.types.push(tokenType);
    }
    if (2 * slot + 2 > this.times.length) {
      const grown = new Float64Array(Math.max(this.times.length * 2, 2 * slot + 2));
      grown.set(this.times);
      this.times = grown;
    }
    this.tokens[slot] = token;
    this.types[slot] = tokenType;
    this.times[2 * slot] = expiresAt ?? NaN;
    this.times[2 * slot + 1] = refreshAt ?? NaN;
  }

  /**
   * Another process changed the connection: the copy is re-checked against the store before it
   * is served again, but kept — if the store cannot be reached, an unexpired copy still serves.
   */
  markStale(slot: number): void {
    if (slot >= 0 && slot < this.tokens.length && this.tokens[slot]) this.times[2 * slot + 1] = -Infinity;
  }

  /** `slot` if it holds a token (fresh or stale) not yet past its expiry less `skewMs` at `now`, else -1. */
  usable(slot: number, now: number, skewMs = 1_000): number {
    if (!this.tokens[slot]) return -1;
    const expiresAt = this.times[2 * slot] as number;
    return Number.isNaN(expiresAt) || now < expiresAt - skewMs ? slot : -1;
  }

  delete(slot: number): void {
    if (slot >= 0 && slot < this.tokens.length) this.tokens[slot] = null;
  }
}
