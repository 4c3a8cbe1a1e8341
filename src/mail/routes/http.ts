/**
 * Bearer-authenticated JSON calls for the REST routes (Gmail, Graph), with provider error
 * bodies classified once here.
 *
 * Gmail: https://developers.google.com/gmail/api/guides/handle-errors — 401 authError;
 * 403 with reason dailyLimitExceeded/userRateLimitExceeded/rateLimitExceeded is a quota
 * (transient), other 403s (insufficientPermissions, domainPolicy) are auth; 429; 5xx backendError.
 * Graph: https://learn.microsoft.com/graph/errors — `{"error":{"code","message"}}`; 401
 * InvalidAuthenticationToken; 403 ErrorAccessDenied/Authorization_RequestDenied; 429 and 503
 * with Retry-After.
 */
import type { Clock } from '../../core/clock.js';
import { isTransientStatus } from '../../core/http-policy.js';
import { scrubProviderText } from '../../core/scrub.js';
import type { TokenSource } from '../../core/types.js';
import { RouteError, firstLine, parseRetryAfter, toRouteError } from '../errors.js';

const QUOTA_REASONS = new Set(['dailyLimitExceeded', 'userRateLimitExceeded', 'rateLimitExceeded', 'quotaExceeded']);

export interface HttpDeps {
  tokens: TokenSource;
  connection: string;
  fetch: typeof fetch;
  clock: Clock;
  /** Request timeout (default 30 s). */
  timeoutMs?: number;
}

interface ProviderErrorBody {
  error?: { code?: number | string; message?: string; status?: string; errors?: { reason?: string }[] };
}

/** Classify an HTTP error response. Exported for tests. */
export function classifyHttp(status: number, body: ProviderErrorBody | null): 'auth' | 'transient' | 'permanent' {
  const reasons = body?.error?.errors?.map((e) => e.reason ?? '') ?? [];
  if (status === 401) return 'auth';
  if (status === 403) return reasons.some((r) => QUOTA_REASONS.has(r)) ? 'transient' : 'auth';
  if (isTransientStatus(status)) return 'transient';
  return 'permanent';
}

/** Call `url` with the connection's bearer token; returns parsed JSON (or null for an empty body). */
export async function bearerJson(
  routeId: string,
  deps: HttpDeps,
  url: string,
  init: { method?: string; body?: string; contentType?: string } = {},
): Promise<unknown> {
  let token: string;
  try {
    token = await deps.tokens.accessToken(deps.connection);
  } catch (e) {
    throw toRouteError(routeId, e);
  }
  let res: Response;
  try {
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: 'application/json' };
    if (init.contentType) headers['content-type'] = init.contentType;
    res = await deps.fetch(url, {
      method: init.method ?? 'GET',
      headers,
      ...(init.body !== undefined ? { body: init.body } : {}),
      signal: AbortSignal.timeout(deps.timeoutMs ?? 30_000),
    });
  } catch (e) {
    const name = e instanceof Error ? e.name : '';
    const what =
      name === 'TimeoutError'
        ? 'request timed out'
        : `network error (${e instanceof Error ? firstLine(e.message) : 'unknown'})`;
    throw new RouteError('transient', routeId, what, { cause: e });
  }
  const text = await res.text().catch(() => '');
  if (res.ok) return text ? (JSON.parse(text) as unknown) : null;
  let body: ProviderErrorBody | null = null;
  try {
    body = JSON.parse(text) as ProviderErrorBody;
  } catch {}
  const kind = classifyHttp(res.status, body);
  const code = body?.error?.status ?? (typeof body?.error?.code === 'string' ? body.error.code : undefined);
  const reason = body?.error?.errors?.[0]?.reason;
  const detail = [code, reason].filter(Boolean).join('/');
  // The API's message may echo the request, bearer token included.
  const msg = scrubProviderText(body?.error?.message ? firstLine(body.error.message) : res.statusText, [token]);
  const said = scrubProviderText(detail, [token]);
  throw new RouteError(kind, routeId, `HTTP ${res.status}${said ? ` ${said}` : ''}: ${msg}`, {
    status: res.status,
    retryAfterMs: parseRetryAfter(res.headers.get('retry-after'), deps.clock.now()),
  });
}
