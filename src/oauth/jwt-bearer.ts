/**
 * Google service accounts: a self-signed RS256 JWT (signed with jose) exchanged for an access
 * token with openid-client's `genericGrantRequest` (RFC 7523 §2.1,
 * https://developers.google.com/identity/protocols/oauth2/service-account#httprest). The
 * assertion is the only credential: no client authentication is added to the request.
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { SignJWT } from 'jose';
import * as oidc from 'openid-client';
import { ConfigError } from '../core/errors.js';

export const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

export interface ServiceAccountKey {
  client_email: string;
  private_key: string;
  private_key_id?: string | undefined;
  token_uri?: string | undefined;
}

export async function readServiceAccountKey(path: string, baseDir: string | undefined): Promise<ServiceAccountKey> {
  const full = isAbsolute(path) || !baseDir ? path : resolve(baseDir, path);
  let text: string;
  try {
    text = await readFile(full, 'utf8');
  } catch (e) {
    throw new ConfigError(
      `cannot read the service account key file ${full}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`,
      {
        path: 'key_file',
      },
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ConfigError(`${full} is not JSON (expected a Google service account key)`, { path: 'key_file' });
  }
  const k = json as Record<string, unknown>;
  if (typeof k['client_email'] !== 'string' || typeof k['private_key'] !== 'string') {
    throw new ConfigError(`${full} lacks client_email or private_key (expected a Google service account key)`, {
      path: 'key_file',
    });
  }
  return {
    client_email: k['client_email'],
    private_key: k['private_key'],
    private_key_id: typeof k['private_key_id'] === 'string' ? k['private_key_id'] : undefined,
    token_uri: typeof k['token_uri'] === 'string' ? k['token_uri'] : undefined,
  };
}

const KEY_UNUSABLE = 'the service account private_key cannot sign (not a valid RSA PEM key)';

function privateKeyOf(pem: string): KeyObject {
  try {
    const key = createPrivateKey(pem);
    if (key.asymmetricKeyType === 'rsa') return key;
  } catch {}
  throw new ConfigError(KEY_UNUSABLE, { path: 'key_file' });
}

/** Sign the assertion: iss = sub(unless impersonating) = client_email, aud = token endpoint, 1 h. */
export async function signAssertion(
  key: ServiceAccountKey,
  opts: { audience: string; scopes: string[]; subject?: string | undefined; now: number },
): Promise<string> {
  const iat = Math.floor(opts.now / 1000);
  const claims = {
    iss: key.client_email,
    scope: opts.scopes.join(' '),
    aud: opts.audience,
    iat,
    exp: iat + 3600,
    ...(opts.subject ? { sub: opts.subject } : {}),
  };
  const privateKey = privateKeyOf(key.private_key);
  try {
    return await new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', ...(key.private_key_id ? { kid: key.private_key_id } : {}) })
      .sign(privateKey);
  } catch {
    throw new ConfigError(KEY_UNUSABLE, { path: 'key_file' });
  }
}

/** No client authentication: the signed assertion is the credential (RFC 7523 §2.1, §3). */
const assertionOnly: oidc.ClientAuth = () => undefined;

/**
 * The openid-client configuration for one token endpoint taking JWT bearer assertions. Static
 * metadata (no discovery); ID tokens are never validated here (`fetch` moves them aside).
 */
export function jwtBearerConfiguration(
  tokenUrl: string,
  clientId: string,
  fetch: oidc.CustomFetch,
): oidc.Configuration {
  const config = new oidc.Configuration(
    { issuer: new URL(tokenUrl).origin, token_endpoint: tokenUrl },
    clientId,
    undefined,
    assertionOnly,
  );
  config[oidc.customFetch] = fetch;
  config.timeout = 0; // the fetch times each request (provider-fetch.ts)
  if (new URL(tokenUrl).protocol === 'http:') oidc.allowInsecureRequests(config); // loopback only (endpoint policy)
  return config;
}

/** Exchange a signed assertion for tokens. Failures are openid-client's, for translateError. */
export function jwtBearerGrant(config: oidc.Configuration, assertion: string): Promise<oidc.TokenEndpointResponse> {
  return oidc.genericGrantRequest(config, JWT_BEARER_GRANT, { assertion });
}
