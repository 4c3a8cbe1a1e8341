/**
 * Get a token: the one path behind `warden.accessToken/tokenInfo/waitUntilReady/fetch`, the
 * HTTP API's token route, the CLI's full path and the probes (docs/architecture.md, "The path
 * of a token request"). The keeper decides; this names unknown connections and waits.
 */
import type { EventEmitter } from 'node:events';
import type { Clock } from '../core/clock.js';
import { NotFoundError, ReauthRequiredError, TimeoutError } from '../core/errors.js';
import type { WardenEvent } from '../core/types.js';
import type { AccessTokenInfo, Keeper } from '../keeper/keeper.js';

export interface TokenDeps {
  keeper: Pick<Keeper, 'accessToken' | 'tokenInfo' | 'forceRefresh'>;
  connections: ReadonlyMap<string, unknown>;
  clock: Clock;
  /** Plain `fetch` for calls made with a token. */
  fetch: typeof fetch;
  /** Where recorded events are emitted (`event`): a completion ends a wait at once. */
  events: EventEmitter;
}

/** The error for a connection name that is not configured (lists the configured ones). */
export function unknownConnection(connections: ReadonlyMap<string, unknown>, conn: string): NotFoundError {
  return new NotFoundError(
    `No connection named "${conn}" (configured: ${[...connections.keys()].join(', ') || 'none'})`,
  );
}

function known(d: Pick<TokenDeps, 'connections'>, conn: string): string {
  if (!d.connections.has(conn)) throw unknownConnection(d.connections, conn);
  return conn;
}

/** A valid access token for `conn`, refreshed ahead of expiry. Throws ReauthRequiredError or TransientError. */
export function accessToken(d: Pick<TokenDeps, 'keeper' | 'connections'>, conn: string): Promise<string> {
  return d.connections.has(conn) ? d.keeper.accessToken(conn) : Promise.reject(unknownConnection(d.connections, conn));
}

export function tokenInfo(d: Pick<TokenDeps, 'keeper' | 'connections'>, conn: string): Promise<AccessTokenInfo> {
  return d.keeper.tokenInfo(known(d, conn));
}

/** Resolves with a token the moment the connection is healthy; rejects with TimeoutError after `timeoutMs`. */
export async function waitUntilReady(
  d: TokenDeps,
  conn: string,
  opts: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<string> {
  known(d, conn);
  const deadline = d.clock.now() + (opts.timeoutMs ?? 10 * 60_000);
  for (;;) {
    try {
      return await d.keeper.accessToken(conn);
    } catch (err) {
      if (!(err instanceof ReauthRequiredError)) throw err;
      const left = deadline - d.clock.now();
      if (left <= 0)
        throw new TimeoutError(
          `Connection "${conn}" is still waiting for re-authorization after ${opts.timeoutMs ?? 600_000} ms`,
        );
      await waitForChange(d, conn, Math.min(left, 1_000), opts.signal);
    }
  }
}

/** Wait until an event about `conn` is recorded in this process, or `ms` passes (cross-process changes are seen on the next poll). */
function waitForChange(d: TokenDeps, conn: string, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const ac = new AbortController();
    const done = (): void => {
      d.events.off('event', onEvent);
      ac.abort();
      resolve();
    };
    const onEvent = (e: WardenEvent): void => {
      if (e.connection === conn) done();
    };
    d.events.on('event', onEvent);
    signal?.addEventListener('abort', done, { once: true });
    d.clock.sleep(ms, ac.signal).then(done, () => undefined);
  });
}

/** `fetch` with the connection's bearer token; on 401 refreshes once and retries. */
export async function fetchWithToken(
  d: Pick<TokenDeps, 'keeper' | 'connections' | 'fetch'>,
  conn: string,
  url: string | URL,
  init: RequestInit = {},
): Promise<Response> {
  const send = async (info: AccessTokenInfo): Promise<Response> => {
    const headers = new Headers(init.headers);
    headers.set('authorization', `${info.tokenType === 'bearer' ? 'Bearer' : info.tokenType} ${info.accessToken}`);
    return d.fetch(url, { ...init, headers });
  };
  const res = await send(await tokenInfo(d, conn));
  if (res.status !== 401) return res;
  await res.body?.cancel();
  return send(await d.keeper.forceRefresh(conn));
}
