/**
 * Google service accounts: a self-signed RS256 JWT exchanged for an access token
 * (RFC 7523 §2.1, https://developers.google.com/identity/protocols/oauth2/service-account#httprest).
 * Hand-written (openid-client has no grant for a self-issued assertion without client auth).
 */
import { readFile } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { createSign } from 'node:crypto';
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

const b64url = (v: string | Buffer): string => Buffer.from(v).toString('base64url');

/** Sign the assertion: iss = sub(unless impersonating) = client_email, aud = token endpoint, 1 h. */
export function signAssertion(
  key: ServiceAccountKey,
  opts: { audience: string; scopes: string[]; subject?: string | undefined; now: number },
): string {
  const iat = Math.floor(opts.now / 1000);
  const header = { alg: 'RS256', typ: 'JWT', ...(key.private_key_id ? { kid: key.private_key_id } : {}) };
  const claims = {
    iss: key.client_email,
    scope: opts.scopes.join(' '),
    aud: opts.audience,
    iat,
    exp: iat + 3600,
    ...(opts.subject ? { sub: opts.subject } : {}),
  };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  let signature: Buffer;
  try {
    signature = createSign('RSA-SHA256').update(input).sign(key.private_key);
  } catch {
    throw new ConfigError('the service account private_key cannot sign (not a valid RSA PEM key)', {
      path: 'key_file',
    });
  }
  return `${input}.${b64url(signature)}`;
}
