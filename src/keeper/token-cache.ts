/**
 * The keeper's in-memory copy of each connection's current access token. One slot per
 * connection name, in columns: the token and its type in arrays, the expiry and refresh times in
 * one Float64Array (NaN: none). About 60 bytes per connection plus the token itself, against
 * ~210 for an object, a settled promise and two boxed numbers each — which at 100,000
 * connections was a fifth of the daemon's live heap (bench/scale.ts).
 */
export class TokenCache {
  private readonly slots = new Map<string, number>();
  private readonly tokens: Array<string | null> = [];
  private readonly types: string[] = [];
  private times = new Float64Array(256);

  /** Slot of a token that is not yet due for refresh at `now`, or -1. */
  fresh(name: string, now: number): number {
    const i = this.slots.get(name);
    if (i === undefined || this.tokens[i] === null) return -1;
    const refreshAt = this.times[2 * i + 1] as number;
    return Number.isNaN(refreshAt) || now < refreshAt ? i : -1;
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

  set(name: string, token: string, tokenType: string, expiresAt: number | null, refreshAt: number | null): void {
    let i = this.slots.get(name);
    if (i === undefined) {
      i = this.tokens.length;
      this.slots.set(name, i);
      this.tokens.push(null);
      this.types.push(tokenType);
      if (2 * i + 2 > this.times.length) {
        const grown = new Float64Array(this.times.length * 2);
        grown.set(this.times);
        this.times = grown;
      }
    }
    this.tokens[i] = token;
    this.types[i] = tokenType;
    this.times[2 * i] = expiresAt ?? NaN;
    this.times[2 * i + 1] = refreshAt ?? NaN;
  }

  delete(name: string): void {
    const i = this.slots.get(name);
    if (i !== undefined) this.tokens[i] = null;
  }
}
