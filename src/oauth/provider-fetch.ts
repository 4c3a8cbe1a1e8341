/**
 * The fetch that openid-client uses for one connection: adds the timeout and normalises a few
 * provider quirks at the HTTP layer so the standard client code can stay standard.
 *
 * - GitHub answers token-endpoint errors with HTTP 200 and an `error` field, and sends JSON only
 *   with `Accept: application/json`
 *   (https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps).
 *   A 200 carrying `error` and no token becomes a 400 so it is read as the OAuth error it is.
 * - Google's device endpoint names the link `verification_url` (RFC 8628 says `verification_uri`):
 *   https://developers.google.com/identity/protocols/oauth2/limited-input-device#step-2:-handle-the-authorization-server-response
 * - A 4xx OAuth error body with a non-JSON content type is relabelled as JSON (it is one).
 * - `idTokenPassthrough`: providers used without discovery (Google, Microsoft `common` tenant,
 *   GitHub, oauth2) issue ID tokens whose `iss` cannot be predicted statically (Microsoft puts the
 *   user's tenant there). The ID token is moved aside to `tw_id_token` and returned unverified;
 *   tokenwarden never uses it for authentication (OIDC Core §3.1.3.7: TLS to the token endpoint
 *   authenticates the issuer for the code flow).
 */
import type { CustomFetch } from 'openid-client';

export interface ProviderFetchOptions {
  fetch: typeof fetch;
  timeoutMs: number;
  acceptJson: boolean;
  idTokenPassthrough: boolean;
}

export const PASSTHROUGH_ID_TOKEN = 'tw_id_token';

export function providerFetch(opts: ProviderFetchOptions): CustomFetch {
  return async (url, init) => {
    // One timer for the whole exchange (answer and body), cleared as soon as it is over: a
    // signal that outlives the request keeps it reachable (and promoted) until the timer fires.
    const ac = new AbortController();
    const timer = setTimeout(
      () => ac.abort(new DOMException(`no answer within ${opts.timeoutMs} ms`, 'TimeoutError')),
      opts.timeoutMs,
    );
    const outer = init.signal;
    const forward = (): void => ac.abort(outer?.reason);
    if (outer?.aborted) forward();
    else outer?.addEventListener('abort', forward, { once: true });
    try {
      const headers = { ...init.headers };
      if (opts.acceptJson) headers['accept'] = 'application/json';
      const res = await opts.fetch(url, { ...init, headers, signal: ac.signal } as RequestInit);
      return await normalise(res, opts);
    } finally {
      clearTimeout(timer);
      outer?.removeEventListener('abort', forward);
    }
  };
}

async function normalise(res: Response, opts: ProviderFetchOptions): Promise<Response> {
  if (res.status >= 500 || res.status === 204 || res.status < 200) return res;
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return rebuild(res, text, res.status);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return rebuild(res, text, res.status);
  const b = body as Record<string, unknown>;
  let status = res.status;
  let changed = false;
  const headers = new Headers(res.headers);
  if (typeof b['error'] === 'string' && b['access_token'] === undefined && b['device_code'] === undefined) {
    if (status === 200) {
      status = 400;
    }
    if (!/json/i.test(headers.get('content-type') ?? '')) {
      headers.set('content-type', 'application/json');
    }
  }
  if (typeof b['verification_url'] === 'string' && b['verification_uri'] === undefined) {
    b['verification_uri'] = b['verification_url'];
    changed = true;
  }
  if (opts.idTokenPassthrough && typeof b['id_token'] === 'string') {
    b[PASSTHROUGH_ID_TOKEN] = b['id_token'];
    delete b['id_token'];
    changed = true;
  }
  if (b['access_token'] !== undefined || b['device_code'] !== undefined)
    headers.set('content-type', 'application/json');
  return rebuild(res, changed ? JSON.stringify(b) : text, status, headers);
}

function rebuild(res: Response, text: string, status: number, headers: Headers = new Headers(res.headers)): Response {
  headers.delete('content-length');
  headers.delete('content-encoding');
  return new Response(text, { status, statusText: res.statusText, headers });
}
