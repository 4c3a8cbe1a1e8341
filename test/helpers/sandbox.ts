/** The `oidc` connection config most end-to-end tests use against the oidc-provider peer. */
import type { OidcPeer } from '../peers/oidc-provider.js';

export function sandboxConnection(
  peer: Pick<OidcPeer, 'issuer' | 'clientId' | 'clientSecret'>,
  redirectUri: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    provider: 'oidc',
    issuer: peer.issuer,
    client_id: peer.clientId,
    client_secret: peer.clientSecret,
    redirect_uri: redirectUri,
    scopes: ['openid', 'offline_access'],
    flow: 'auth_code',
    ...extra,
  };
}
