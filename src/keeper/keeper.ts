/**
 * The refresh engine (the path of a token request: docs/architecture.md): proactive refresh, single-flight inside the process
 * (one in-flight promise per connection) and across processes/hosts (a lease on the store row,
 * re-read after taking it), rotation-safe (a rotated refresh token is persisted before the
 * access token is returned; an absent one never overwrites a stored one), and failure
 * classification (only a definitive provider answer moves a connection to reauth_required).
 */
import type { Clock } from '../core/clock.js';
import { ProviderError, ReauthRequiredError, TransientError, type DiagnosedCause } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { isDefinitiveOAuthError, isUsable, shouldRefresh } from '../core/refresh-policy.js';
import type { ConnectionState, EventSink, TokenSet, TokenSource } from '../core/types.js';
import {
  causeLine,
  notAuthorizedCause,
  noRefreshTokenCause,
  noRefreshTokenWarning,
  rotationRaceCause,
  unknownConnectionCause,
} from '../providers/causes.js';
import type { ConnectionPatch, ConnectionRecord, Store } from '../store/types.js';
import { predictRefreshDeath, reauthErrorFor, type DeathFacts } from './facts.js';
import { degradedInfo, staticSecretInfo, type AccessTokenInfo } from './token-info.js';

export type { AccessTokenInfo };
import { asTransient, diagnoseRefusal, refreshedPatch, retryDelay } from './refresh-outcome.js';
import type { ConnectionRuntime } from './runtime.js';
import { TokenCache } from './token-cache.js';

export interface KeeperDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  events: EventSink;
  /** Unique id of this process (lease owner). */
  owner: string;
  connections: ReadonlyMap<string, ConnectionRuntime>;
  /** Called once when a connection becomes reauth_required (the re-auth orchestrator hooks in here). */
  onReauthRequired?: (name: string, cause: DiagnosedCause) => void;
  /** Which non-interactive fallbacks still work for a connection (mail routes, for error messages). */
  fallbacksFor?: (name: string) => string[];
  /** Refresh lease length. */
  leaseMs?: number;
  /** How often a waiter re-reads the store while another process holds the lease. */
  waitPollMs?: number;
  random?: () => number;
}

export class Keeper implements TokenSource {
  private readonly cache = new TokenCache();
  private readonly inflight = new Map<string, Promise<AccessTokenInfo>>();
  private readonly leaseMs: number;
  private readonly waitPollMs: number;
  private readonly random: () => number;
  private unwatch: (() => void) | undefined;
  /** Token-endpoint calls made by this process (observability and tests). */
  refreshCount = 0;

  constructor(private readonly deps: KeeperDeps) {
    this.leaseMs = deps.leaseMs ?? 30_000;
    this.waitPollMs = deps.waitPollMs ?? 25;
    this.random = deps.random ?? Math.random;
  }

  /** A valid access token, refreshed ahead of expiry. */
  accessToken(name: string): Promise<string> {
    // Hot path: one Map lookup and one clock read.
    const slot = this.cache.fresh(this.slotOf(name), this.deps.clock.now());
    if (slot >= 0) return Promise.resolve(this.cache.token(slot));
    return this.tokenInfo(name).then((i) => i.accessToken);
  }

  async stateOf(name: string): Promise<ConnectionState | null> {
    const row = await this.deps.store.getConnection(name);
    if (row) return row.state;
    const rt = this.deps.connections.get(name);
    // A configured user grant that was never authorized has no row yet.
    return rt ? (rt.config.kind === 'oauth' ? 'unauthorized' : 'healthy') : null;
  }

  /** Hot path: a cached token that is not yet due for refresh is returned without I/O. */
  tokenInfo(name: string): Promise<AccessTokenInfo> {
    const slot = this.cache.fresh(this.slotOf(name), this.deps.clock.now());
    if (slot >= 0)
      return Promise.resolve({
        accessToken: this.cache.token(slot),
        tokenType: this.cache.tokenType(slot),
        expiresAt: this.cache.expiresAt(slot),
        state: 'healthy',
      });
    return this.singleFlight(name, () => this.obtain(name, false)).catch((err: unknown) =>
      this.servedFromMemory(name, err),
    );
  }

  /**
   * The store or the provider is unavailable (a transient failure): an unexpired copy held in
   * memory — even one a change notification asked to re-check — still serves, marked degraded.
   */
  private servedFromMemory(name: string, err: unknown): AccessTokenInfo {
    if (!(err instanceof TransientError)) throw err;
    const slot = this.cache.usable(this.slotOf(name), this.deps.clock.now());
    if (slot < 0) throw err;
    return {
      accessToken: this.cache.token(slot),
      tokenType: this.cache.tokenType(slot),
      expiresAt: this.cache.expiresAt(slot),
      state: 'degraded',
    };
  }

  /** Refresh now even if the token is fresh (used by `fetch` after a 401, and by the scheduler). */
  forceRefresh(name: string): Promise<AccessTokenInfo> {
    this.forget(name);
    return this.singleFlight(name, () => this.obtain(name, true));
  }

  /**
   * Once anything is cached, follow the store's change feed: another process that re-authorized
   * the connection, rotated its token or found the grant dead makes our copy stale.
   */
  private watchStore(): void {
    if (this.unwatch || !this.deps.store.onConnectionChanged) return;
    this.unwatch = this.deps.store.onConnectionChanged((name) => this.cache.markStale(this.slotOf(name)));
  }

  /** The connection's slot in the token cache (its config index), or -1 for a name not configured. */
  private slotOf(name: string): number {
    return this.deps.connections.get(name)?.index ?? -1;
  }

  private forget(name: string): void {
    this.cache.delete(this.slotOf(name));
  }

  /** Stop following the store's change feed (on close). */
  close(): void {
    this.unwatch?.();
    this.unwatch = undefined;
  }

  /** Drop the in-memory copy (after a flow stored new tokens, or on a change notification). */
  invalidate(name: string): void {
    this.forget(name);
  }

  /** Persist tokens from a completed human flow (or first authorization). */
  async storeGrant(name: string, tokens: TokenSet, opts: { account?: string | null } = {}): Promise<ConnectionRecord> {
    const now = this.deps.clock.now();
    const rt = this.runtime(name);
    // A user grant without a refresh token dies with its access token: say so now, not at the death.
    const warning =
      rt.config.kind === 'oauth' && !tokens.refreshToken
        ? noRefreshTokenWarning(rt.profile.id, tokens.expiresAt ?? null)
        : null;
    // The row exists once a flow was opened; ensuring it again would be one more write transaction.
    const before = (await this.deps.store.getConnection(name)) ?? (await this.deps.store.ensureConnection(name, now));
    const rec = await this.deps.store.updateConnection(
      name,
      {
        accessToken: tokens.accessToken,
        refreshToken: tokens.refreshToken ?? null,
        idToken: tokens.idToken ?? null,
        tokenType: tokens.tokenType,
        scope: tokens.scope ?? rt.config.scopes.join(' '),
        accessExpiresAt: tokens.expiresAt ?? null,
        grantedAt: now,
        lastRefreshAt: now,
        lastUsedAt: now,
        refreshExpiresAt: warning
          ? (tokens.expiresAt ?? now)
          : this.predictDeath(name, {
              grantedAt: now,
              lastUsedAt: now,
              announced: tokens.refreshExpiresAt ?? null,
              scope: tokens.scope,
              lifetime: before.lifetime,
            }),
        state: 'healthy',
        cause: warning,
        failureCount: 0,
        nextAttemptAt: null,
        lastError: null,
        ...(opts.account !== undefined ? { account: opts.account } : {}),
      },
      { now },
    );
    if (warning)
      await this.deps.events.emit({
        type: 'no_refresh_token',
        connection: name,
        message: causeLine(warning),
        data: { accessExpiresAt: tokens.expiresAt ?? null },
      });
    this.remember(name, rec);
    return rec;
  }

  /** Move a connection to reauth_required with a diagnosed cause (also used by probes). */
  async markReauthRequired(name: string, cause: DiagnosedCause, patch: ConnectionPatch = {}): Promise<void> {
    const now = this.deps.clock.now();
    this.forget(name);
    const before = await this.deps.store.getConnection(name);
    await this.deps.store.updateConnection(
      name,
      { ...patch, state: 'reauth_required', cause, lastError: cause.summary },
      { now },
    );
    if (before?.state !== 'reauth_required' && before?.state !== 'awaiting_human') {
      await this.deps.events.emit({
        type: 'reauth_required',
        connection: name,
        message: causeLine(cause),
        data: { cause: cause.id },
      });
      this.deps.onReauthRequired?.(name, cause);
    }
  }

  private singleFlight(name: string, fn: () => Promise<AccessTokenInfo>): Promise<AccessTokenInfo> {
    const existing = this.inflight.get(name);
    if (existing) return existing;
    const p = fn().finally(() => this.inflight.delete(name));
    this.inflight.set(name, p);
    return p;
  }

  private runtime(name: string): ConnectionRuntime {
    const rt = this.deps.connections.get(name);
    if (!rt) throw new ReauthRequiredError(name, unknownConnectionCause(name));
    return rt;
  }

  private async obtain(name: string, force: boolean): Promise<AccessTokenInfo> {
    const rt = this.runtime(name);
    const { store, clock } = this.deps;
    if (rt.config.kind === 'static') return staticSecretInfo(name, rt);
    // Read first: ensureConnection is a write (a transaction) and rows exist after the first use.
    let row = (await store.getConnection(name)) ?? (await store.ensureConnection(name, clock.now()));
    for (let attempt = 0; ; attempt++) {
      const now = clock.now();
      await this.failIfDead(name, row);
      const decision = shouldRefresh({
        now,
        hasAccessToken: row.accessToken !== null,
        accessExpiresAt: row.accessExpiresAt,
        obtainedAt: row.lastRefreshAt,
      });
      if (!decision.should && !(force && attempt === 0)) return this.remember(name, row);
      // Backing off after transient failures: serve the unexpired token, else say when to retry.
      if (row.nextAttemptAt !== null && now < row.nextAttemptAt) {
        if (row.accessToken && isUsable(now, row.accessExpiresAt)) return degradedInfo(row);
        throw new TransientError(
          `Provider unavailable for "${name}"; next attempt in ${Math.ceil((row.nextAttemptAt - now) / 1000)} s`,
          {
            retryAfterMs: row.nextAttemptAt - now,
          },
        );
      }
      const leased = await store.acquireRefreshLease(name, this.deps.owner, this.leaseMs, now);
      if (!leased) {
        // Another process is refreshing. An unexpired token can be served meanwhile.
        if (row.accessToken && isUsable(now, row.accessExpiresAt)) return this.remember(name, row, true);
        row = await this.waitForOther(name, row.version);
        continue;
      }
      // Re-read under the lease: someone may have refreshed already.
      const fresh = shouldRefresh({
        now,
        hasAccessToken: leased.accessToken !== null,
        accessExpiresAt: leased.accessExpiresAt,
        obtainedAt: leased.lastRefreshAt,
      });
      if (
        (!fresh.should && !(force && leased.version === row.version)) ||
        leased.state === 'reauth_required' ||
        leased.state === 'awaiting_human'
      ) {
        await store.releaseRefreshLease(name, this.deps.owner);
        row = leased;
        if (!fresh.should) return this.remember(name, row);
        continue;
      }
      try {
        return await this.refreshUnderLease(name, rt, leased);
      } finally {
        await store.releaseRefreshLease(name, this.deps.owner).catch(() => undefined);
      }
    }
  }

  private async refreshUnderLease(
    name: string,
    rt: ConnectionRuntime,
    row: ConnectionRecord,
  ): Promise<AccessTokenInfo> {
    const { store, clock, owner } = this.deps;
    const started = clock.now();
    if (rt.config.kind === 'oauth' && !row.refreshToken) {
      if (row.accessToken && isUsable(started, row.accessExpiresAt)) return this.remember(name, row);
      await this.markReauthRequired(
        name,
        row.accessToken ? noRefreshTokenCause(rt.profile.id) : notAuthorizedCause(name),
      );
      return this.failIfDead(name, (await store.getConnection(name)) ?? row).then(() => this.remember(name, row));
    }
    let tokens: TokenSet;
    try {
      const client = await rt.client();
      this.refreshCount++;
      tokens =
        rt.config.kind === 'client_credentials'
          ? await client.clientCredentials()
          : rt.config.kind === 'service_account'
            ? await client.jwtBearer()
            : await client.refresh(row.refreshToken as string);
    } catch (err) {
      return this.handleFailure(name, rt, row, err);
    }
    const now = clock.now();
    const { patch, forgetLifetime } = refreshedPatch(rt, row, tokens, now);
    // Persist before returning (crash safety). The lease guard refuses the write if our lease was lost.
    const updated = await store.updateConnection(name, patch, { now, leaseOwner: owner });
    const wasUnhealthy = row.state === 'degraded';
    await this.deps.events.emit({
      type: wasUnhealthy ? 'recovered' : 'refreshed',
      connection: name,
      message: wasUnhealthy
        ? `Provider reachable again; token refreshed after ${row.failureCount} failed attempt(s).`
        : 'Access token refreshed.',
      data: {
        expiresAt: updated.accessExpiresAt,
        rotated: tokens.refreshToken !== undefined && tokens.refreshToken !== row.refreshToken,
        ...(forgetLifetime ? { learnedLifetimeForgotten: true } : {}),
        ms: now - row.updatedAt >= 0 ? now - (row.lastRefreshAt ?? now) : null,
      },
    });
    return this.remember(name, updated);
  }

  private async handleFailure(
    name: string,
    rt: ConnectionRuntime,
    row: ConnectionRecord,
    err: unknown,
  ): Promise<AccessTokenInfo> {
    const { store, clock, owner } = this.deps;
    const now = clock.now();
    if (err instanceof ProviderError && isDefinitiveOAuthError(err.error)) {
      // Rotation race: another process rotated the refresh token after our read. Adopt theirs.
      const current = await store.getConnection(name);
      if (current && current.refreshToken && current.refreshToken !== row.refreshToken) {
        await this.deps.events.emit({
          type: 'rotation_adopted',
          connection: name,
          message: rotationRaceCause().summary,
          data: null,
        });
        return this.remember(name, current);
      }
      const { cause, lifetime } = diagnoseRefusal(name, rt, row, err, now);
      await this.deps.events.emit({
        type: 'refresh_failed',
        connection: name,
        message: `Provider refused the refresh: ${err.error}`,
        data: { error: err.error, definitive: true },
      });
      await this.markReauthRequired(name, cause, lifetime !== row.lifetime ? { lifetime } : {});
      throw await this.reauthError(name, cause, err);
    }
    const transient = asTransient(err);
    const failureCount = row.failureCount + 1;
    const delay = retryDelay(row, failureCount, transient, now, this.random());
    await store.updateConnection(
      name,
      { state: 'degraded', failureCount, nextAttemptAt: now + delay, lastError: transient.message },
      { now, leaseOwner: owner },
    );
    if (row.state !== 'degraded')
      await this.deps.events.emit({
        type: 'degraded',
        connection: name,
        message: `Refresh failed transiently (${transient.message}); serving the unexpired token and retrying.`,
        data: { retryInMs: Math.round(delay), status: transient.status ?? null },
      });
    else
      await this.deps.events.emit({
        type: 'refresh_failed',
        connection: name,
        message: transient.message,
        data: { definitive: false, attempt: failureCount, retryInMs: Math.round(delay) },
      });
    if (row.accessToken && isUsable(now, row.accessExpiresAt)) return degradedInfo(row);
    throw transient;
  }

  private async failIfDead(name: string, row: ConnectionRecord): Promise<void> {
    if (row.state === 'reauth_required' || row.state === 'awaiting_human')
      throw await this.reauthError(name, row.cause ?? notAuthorizedCause(name));
    if (
      row.state === 'unauthorized' &&
      !row.accessToken &&
      !row.refreshToken &&
      this.runtime(name).config.kind === 'oauth'
    )
      throw await this.reauthError(name, notAuthorizedCause(name));
  }

  private reauthError(name: string, cause: DiagnosedCause, err?: unknown): Promise<ReauthRequiredError> {
    return reauthErrorFor(this.deps.store, name, cause, this.deps.fallbacksFor?.(name) ?? [], err);
  }

  private async waitForOther(name: string, version: number): Promise<ConnectionRecord> {
    const { store, clock } = this.deps;
    const deadline = clock.now() + this.leaseMs + 1_000;
    for (;;) {
      await clock.sleep(this.waitPollMs);
      const row = await store.getConnection(name);
      if (!row) throw new TransientError(`Connection "${name}" disappeared from the store`);
      const leaseFree = row.leaseOwner === null || (row.leaseUntil ?? 0) <= clock.now();
      if (row.version !== version || leaseFree || clock.now() > deadline) return row;
    }
  }

  private remember(name: string, row: ConnectionRecord, noCache = false): AccessTokenInfo {
    if (!row.accessToken) throw new TransientError(`No access token available for "${name}"`);
    const d = shouldRefresh({
      now: this.deps.clock.now(),
      hasAccessToken: true,
      accessExpiresAt: row.accessExpiresAt,
      obtainedAt: row.lastRefreshAt,
    });
    // One shared 'Bearer' string instead of one per cached connection (each row read is a fresh copy).
    const tokenType = row.tokenType === null || row.tokenType === 'Bearer' ? 'Bearer' : row.tokenType;
    if (!noCache && !d.should) {
      const slot = this.slotOf(name);
      if (slot >= 0) this.cache.set(slot, row.accessToken, tokenType, row.accessExpiresAt, d.refreshAt);
      this.watchStore();
    }
    return { accessToken: row.accessToken, tokenType, expiresAt: row.accessExpiresAt, state: row.state };
  }

  private predictDeath(name: string, f: DeathFacts): number | null {
    return predictRefreshDeath(this.runtime(name), f);
  }
}
