/**
 * The one place where lower-layer failures become tokenwarden errors (translated once, at
 * the boundary). Whether the caller retries or asks a human depends only on this:
 *
 * - the provider answered with an OAuth error body (RFC 6749 §5.2, RFC 8628 §3.5, RFC 7009 §2.2.1)
 *   → {@link ProviderError} (definitive)
 * - network failure, timeout, a transient status ({@link isTransientStatus}: 408, 425, 429, 5xx),
 *   HTML or malformed body → {@link TransientError}
 *
 * Messages and causes never carry token values: causes are rebuilt from the error's name, code
 * and message only (openid-client keeps response bodies on its errors).
 */
import { ResponseBodyError, WWWAuthenticateChallengeError } from 'openid-client';
import { InputError, ProviderError, TokenwardenError, TransientError } from '../core/errors.js';
import { isTransientStatus, parseRetryAfter } from '../core/http-policy.js';
import { MAX_PROVIDER_TEXT, scrubProviderText, withoutSecrets } from '../core/scrub.js';

export { MAX_PROVIDER_TEXT, scrubProviderText, parseRetryAfter };

/**
 * The same error with every provider-supplied text scrubbed ({@link scrubProviderText}): a
 * ProviderError is rebuilt; another error keeps its class, its message and cause cleaned.
 */
export function scrubError<E extends TokenwardenError>(
  err: E,
  secrets: readonly (string | null | undefined)[],
): TokenwardenError {
  const cause = err.cause instanceof Error ? new Error(withoutSecrets(err.cause.message, secrets)) : undefined;
  if (err instanceof ProviderError)
    return new ProviderError(scrubProviderText(err.error, secrets).slice(0, 100), {
      description: err.description === undefined ? undefined : scrubProviderText(err.description, secrets),
      status: err.status,
      ...(cause ? { cause } : {}),
    });
  const message = withoutSecrets(err.message, secrets);
  if (message === err.message && (!(err.cause instanceof Error) || cause?.message === err.cause.message)) return err;
  // Error.message and .cause are writable own properties: keep the class (and fields) callers match on.
  err.message = message;
  if (cause) Object.defineProperty(err, 'cause', { value: cause, writable: true, configurable: true });
  return err;
}

/** `String(x)` that cannot throw (an object with a broken toString/valueOf, a revoked proxy). */
function describeThrown(x: unknown): string {
  try {
    return String(x);
  } catch {
    return `a thrown ${typeof x} value`;
  }
}

/** A cause safe to keep: name, code and message of the original, never its payload. */
function safeCause(err: unknown): Error {
  if (!(err instanceof Error)) return new Error(describeThrown(err).slice(0, 200));
  const code = (err as { code?: unknown }).code;
  const inner =
    err.cause instanceof Error
      ? ` (${err.cause.name}${(err.cause as { code?: unknown }).code ? ` ${String((err.cause as { code?: unknown }).code)}` : ''}: ${err.cause.message})`
      : '';
  return new Error(`${err.name}${typeof code === 'string' ? ` ${code}` : ''}: ${err.message}${inner}`);
}

/** OAuth error fields from a parsed JSON body, if it is an OAuth error response. */
export function oauthErrorOf(body: unknown): { error: string; description?: string | undefined } | null {
  if (typeof body !== 'object' || body === null) return null;
  const b = body as Record<string, unknown>;
  if (typeof b['error'] !== 'string' || b['error'].length === 0) return null;
  const description =
    typeof b['error_description'] === 'string' ? scrubProviderText(b['error_description'], []) : undefined;
  return { error: scrubProviderText(b['error'], []).slice(0, 100), description };
}

/**
 * Classify a raw HTTP answer from a hand-written request (JWT bearer, GitHub revocation).
 * Returns null when the response is a success the caller should parse.
 */
export function errorFromResponse(what: string, res: Response, bodyText: string, now: number): TokenwardenError | null {
  const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'), now);
  if (isTransientStatus(res.status)) {
    return new TransientError(`${what}: provider answered HTTP ${res.status}`, { status: res.status, retryAfterMs });
  }
  let json: unknown;
  try {
    json = bodyText ? JSON.parse(bodyText) : undefined;
  } catch {
    json = undefined;
  }
  const oauth = oauthErrorOf(json);
  if (oauth) return new ProviderError(oauth.error, { description: oauth.description, status: res.status });
  if (res.status >= 400) {
    return new TransientError(`${what}: provider answered HTTP ${res.status} without an OAuth error body`, {
      status: res.status,
    });
  }
  return null;
}

function responseOf(err: unknown): Response | undefined {
  if (err instanceof ResponseBodyError || err instanceof WWWAuthenticateChallengeError) return err.response;
  const cause = (err as { cause?: unknown } | null)?.cause;
  return cause instanceof Response ? cause : undefined;
}

function isTimeout(err: unknown): boolean {
  for (let e: unknown = err, i = 0; e && i < 5; e = (e as { cause?: unknown }).cause, i++) {
    const name = (e as { name?: unknown }).name;
    if (name === 'TimeoutError' || name === 'AbortError') return true;
  }
  return false;
}

/**
 * Translate anything thrown by openid-client or fetch. `what` names the operation for the message
 * (e.g. `token refresh`); `timeoutMs` is quoted in timeout messages.
 */
export function translateError(err: unknown, ctx: { what: string; now: number; timeoutMs?: number }): TokenwardenError {
  if (err instanceof TokenwardenError) return err;
  const res = responseOf(err);
  if (res && isTransientStatus(res.status)) {
    return new TransientError(`${ctx.what}: provider answered HTTP ${res.status}`, {
      status: res.status,
      retryAfterMs: parseRetryAfter(res.headers.get('retry-after'), ctx.now),
      cause: safeCause(err),
    });
  }
  if (err instanceof ResponseBodyError) {
    return new ProviderError(scrubProviderText(err.error, []).slice(0, 100), {
      description: err.error_description === undefined ? undefined : scrubProviderText(err.error_description, []),
      status: err.status,
      cause: safeCause(err),
    });
  }
  if (err instanceof WWWAuthenticateChallengeError) {
    const params = err.cause.find((c) => c.parameters.error)?.parameters ?? err.cause[0]?.parameters;
    // Only a 400/401 challenge is the token endpoint refusing the client (RFC 6749 §5.2); a
    // challenge on another status (a proxy's 404/407/403 page) says nothing about the grant.
    if (err.status !== 400 && err.status !== 401 && !params?.error) {
      return new TransientError(
        `${ctx.what}: unexpected HTTP ${err.status} authentication challenge (not from the token endpoint?)`,
        {
          status: err.status,
          cause: safeCause(err),
        },
      );
    }
    return new ProviderError(scrubProviderText(params?.error ?? 'invalid_client', []).slice(0, 100), {
      description:
        params?.error_description === undefined ? undefined : scrubProviderText(params.error_description, []),
      status: err.status,
      cause: safeCause(err),
    });
  }
  if (isTimeout(err)) {
    return new TransientError(
      `${ctx.what}: no answer from the provider${ctx.timeoutMs ? ` within ${ctx.timeoutMs} ms` : ''}`,
      {
        cause: safeCause(err),
      },
    );
  }
  const code = (err as { code?: unknown } | null | undefined)?.code;
  if (typeof code === 'string' && code.startsWith('OAUTH_') && /COMPARISON|TIMESTAMP|CLAIM/.test(code)) {
    // A response that fails validation against this request (state/nonce/iss): not a network hiccup.
    return new InputError(`${ctx.what}: the provider's answer does not match this request (${code})`, {
      cause: safeCause(err),
    });
  }
  if (res) {
    return new TransientError(`${ctx.what}: unexpected HTTP ${res.status} response from the provider`, {
      status: res.status,
      cause: safeCause(err),
    });
  }
  const network = err instanceof TypeError && /fetch failed|network/i.test(err.message);
  return new TransientError(
    `${ctx.what}: ${network ? 'network error' : 'unexpected or malformed response'} (${safeCause(err).message})`,
    {
      cause: safeCause(err),
    },
  );
}
