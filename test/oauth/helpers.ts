/** Shared set-up for OAuth engine tests: a connection config for a peer, parsed by the real schema. */
import { connectionSchema, type ConnectionConfig } from '../../src/config/schema.js';
import type { OidcPeer } from '../peers/oidc-provider.js';

export function oidcConn(peer: OidcPeer, extra: Record<string, unknown> = {}): ConnectionConfig {
  return connectionSchema.parse({
    provider: 'oidc',
    issuer: peer.issuer,
    client_id: peer.clientId,
    client_secret: peer.clientSecret,
    redirect_uri: peer.redirectUris[0],
    scopes: ['openid', 'offline_access', 'api:read'],
    ...extra,
  });
}

export function conn(input: Record<string, unknown>): ConnectionConfig {
  return connectionSchema.parse(input);
}
