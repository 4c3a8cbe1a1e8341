/**
 * Dashboard login: a one-time link (`/login?token=…`, single use, valid a few minutes) that
 * `serve` prints, exchanged for a cookie session (HttpOnly, SameSite=Strict, Secure over
 * https) carrying a per-session CSRF token. Only SHA-256 hashes of tokens are kept, in memory:
 * restarting the daemon signs everyone out.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Clock } from '../../core/clock.js';
import { TokenwardenError } from '../../core/errors.js';
import type { ServerContext } from '../context.js';

export const LOGIN_LINK_TTL_MS = 5 * 60_000;
export const SESSION_TTL_MS = 12 * 3600_000;

export interface Session {
  csrf: string;
  expiresAt: number;
  /** One message shown on the next page view (post/redirect/get). */
  flash: { kind: 'ok' | 'warn' | 'error'; text: string } | null;
}

const hash = (token: string): string => createHash('sha256').update(token).digest('hex');
const newToken = (): string => randomBytes(32).toString('base64url');

export class DashboardSessions {
  private readonly loginTokens = new Map<string, number>();
  private readonly sessions = new Map<string, Session>();

  constructor(private readonly clock: Clock) {}

  /** A fresh single-use login token. */
  issueLoginToken(ttlMs = LOGIN_LINK_TTL_MS): string {
    this.prune();
    const token = newToken();
    this.loginTokens.set(hash(token), this.clock.now() + ttlMs);
    return token;
  }

  /** Whether `token` would be accepted now (does not use it up: link previews only look). */
  loginTokenValid(token: string): boolean {
    const until = this.loginTokens.get(hash(token));
    return until !== undefined && until > this.clock.now();
  }

  /** Use up a login token and open a session; null if the token is unknown, used or expired. */
  login(token: string): { id: string; session: Session } | null {
    const key = hash(token);
    const until = this.loginTokens.get(key);
    this.loginTokens.delete(key);
    if (until === undefined || until <= this.clock.now()) return null;
    const id = newToken();
    const session: Session = { csrf: newToken(), expiresAt: this.clock.now() + SESSION_TTL_MS, flash: null };
    this.sessions.set(hash(id), session);
    return { id, session };
  }

  get(id: string | undefined): Session | null {
    if (!id) return null;
    const s = this.sessions.get(hash(id));
    if (!s) return null;
    if (s.expiresAt <= this.clock.now()) {
      this.sessions.delete(hash(id));
      return null;
    }
    return s;
  }

  logout(id: string | undefined): void {
    if (id) this.sessions.delete(hash(id));
  }

  private prune(): void {
    const now = this.clock.now();
    for (const [k, until] of this.loginTokens) if (until <= now) this.loginTokens.delete(k);
    for (const [k, s] of this.sessions) if (s.expiresAt <= now) this.sessions.delete(k);
  }
}

const registry = new WeakMap<ServerContext, DashboardSessions>();

/** The session store of the dashboard mounted for `ctx` (created by mountDashboard). */
export function sessionsFor(ctx: ServerContext): DashboardSessions {
  let s = registry.get(ctx);
  if (!s) {
    s = new DashboardSessions(ctx.clock);
    registry.set(ctx, s);
  }
  return s;
}

/**
 * A one-time dashboard login link for `serve` to print (or the API to hand out): opens a
 * sign-in page; the first sign-in uses it up; it expires after `ttlMs` (default 5 minutes).
 */
export function createLoginLink(ctx: ServerContext, opts: { ttlMs?: number } = {}): URL {
  if (!ctx.baseUrl)
    throw new TokenwardenError('TW_CONFIG', 'The server has no base URL yet: create login links after it listens.');
  const url = new URL('/login', ctx.baseUrl);
  url.searchParams.set('token', sessionsFor(ctx).issueLoginToken(opts.ttlMs));
  return url;
}
