/**
 * The OAuth engine's contract: one {@link GrantClient} per connection, built from its config
 * and provider profile (oauth/grant-client.ts: `createGrantClient`). Implemented on
 * openid-client v6. I/O at the edges; errors translated once at this boundary:
 *
 * - the provider said no (OAuth error body)  → `ProviderError` (core/errors.ts)
 * - network, timeout, 5xx, 429, malformed    → `TransientError` (with `retryAfterMs` for 429/503)
 *
 * Times are epoch milliseconds.
 */
import type { TokenSet } from '../core/types.js';

export interface AuthorizationRequest {
  /** The URL the human opens. */
  url: string;
  state: string;
  /** PKCE S256 verifier (secret: store sealed). */
  codeVerifier: string;
  nonce?: string | undefined;
  redirectUri: string;
}

export interface DeviceAuthorization {
  /** secret: store sealed */
  deviceCode: string;
  userCode: string;
  verificationUri: string;
  verificationUriComplete?: string | undefined;
  expiresAt: number;
  /** Seconds between polls (RFC 8628 §3.2 default 5). */
  interval: number;
}

export interface GrantClient {
  /**
   * Build an authorization-code request with PKCE S256 and a fresh random `state`
   * (RFC 6749 §4.1, RFC 7636). Adds provider-required params (Google: access_type=offline,
   * prompt=consent).
   */
  authorizationRequest(opts?: {
    redirectUri?: string;
    extraParams?: Record<string, string>;
  }): Promise<AuthorizationRequest>;
  /**
   * Exchange the code found in `callbackUrl` (the full redirect URL the browser reached).
   * Verifies `state` equals `expected.state`; throws InputError on mismatch or when the URL
   * carries `error=` (e.g. access_denied), ProviderError when the token endpoint refuses
   * (invalid_grant: code expired or already used).
   */
  exchangeCode(
    callbackUrl: URL,
    expected: { state: string; codeVerifier: string; redirectUri: string; nonce?: string | undefined },
  ): Promise<TokenSet>;
  /** RFC 8628 §3.1–3.2. Throws ProviderError if the provider has no device endpoint. */
  startDeviceAuthorization(opts?: { scopes?: string[] }): Promise<DeviceAuthorization>;
  /**
   * RFC 8628 §3.4–3.5: poll until tokens, honouring `interval`, adding 5 s (cumulative) on
   * `slow_down`, continuing on `authorization_pending` (and provider variants: Google 428),
   * failing with ProviderError on `expired_token`, `access_denied`
   * (and Microsoft's `authorization_declined`). Aborts with the signal.
   */
  pollDeviceAuthorization(device: DeviceAuthorization, opts?: { signal?: AbortSignal }): Promise<TokenSet>;
  /** RFC 6749 §6. The returned set keeps `refreshToken` undefined if none was issued. */
  refresh(refreshToken: string): Promise<TokenSet>;
  /** RFC 6749 §4.4. */
  clientCredentials(): Promise<TokenSet>;
  /** RFC 7523 §2.1 (Google service account JWT bearer). */
  jwtBearer(): Promise<TokenSet>;
  /** RFC 7009. */
  revoke(token: string, hint?: 'access_token' | 'refresh_token'): Promise<void>;
}
