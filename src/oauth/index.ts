/** The OAuth engine (see types.ts for the contract). */
export type { AuthorizationRequest, DeviceAuthorization, GrantClient } from './types.js';
export { createGrantClient, defaultDiscoveryCache, type GrantClientDeps } from './grant-client.js';
export { DiscoveryCache } from './discovery-cache.js';
export { translateError, errorFromResponse, parseRetryAfter, oauthErrorOf } from './translate-error.js';
export { checkEndpointUrl, checkEndpoints, isLoopbackHost, ENDPOINT_KEYS } from './endpoint-policy.js';
export { toTokenSet } from './token-set.js';
export { pollDevice } from './device-poll.js';
export { JWT_BEARER_GRANT, readServiceAccountKey, signAssertion, type ServiceAccountKey } from './jwt-bearer.js';
