/**
 * The demo's OAuth provider: panva's certified `oidc-provider` (v9) in this process, on an
 * ephemeral 127.0.0.1 port, with one confidential client (authorization code + PKCE S256,
 * refresh-token rotation, short lifetimes), revocation and introspection — plus a headless
 * "human" who signs in and consents, ending on the redirect URL a real person would paste.
 *
 * Only for `tokenwarden demo`: nothing here talks to a real provider.
 * @see https://github.com/panva/node-oidc-provider/blob/main/docs/README.md
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { TokenwardenError } from '../core/errors.js';
import type { AddressInfo } from 'node:net';
import { baseProviderConfig, readBody, routeProviderRequests } from './oidc-basics.js';
import { SandboxStorage } from './oidc-storage.js';

export interface OidcSandboxOptions {
  /** The redirect URI the client registers (the daemon's /oauth/callback). */
  redirectUri: string;
  /** Access-token lifetime in seconds (default 4: refreshes every few seconds). */
  accessTokenTtl?: number;
  /** Refresh-token lifetime in seconds (default 600). */
  refreshTokenTtl?: number;
}

export interface OidcSandbox {
  issuer: string;
  clientId: string;
  clientSecret: string;
  introspectionUrl: string;
  /** The human opens `authUrl`, signs in as `accountId` and consents; returns the URL to paste. */
  approve(authUrl: string, accountId?: string): Promise<string>;
  /** Revoke every grant server-side, as a user clicking "remove access" in their account. */
  revokeAll(): number;
  /** RFC 7662 introspection as the client: is this access token still honoured? */
  isActive(token: string): Promise<boolean>;
  stop(): Promise<void>;
}

interface Interaction {
  uid: string;
  prompt: { name: string; details: { missingOIDCScope?: string[]; missingOIDCClaims?: string[] } };
  params: Record<string, unknown>;
  session?: { accountId?: string };
}

interface ProviderInstance {
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
  interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<Interaction>;
  interactionFinished(
    req: IncomingMessage,
    res: ServerResponse,
    result: Record<string, unknown>,
    opts?: { mergeWithLastSubmission?: boolean },
  ): Promise<void>;
  Grant: new (init: { accountId: string; clientId: string }) => {
    addOIDCScope(s: string): void;
    addOIDCClaims(c: string[]): void;
    save(): Promise<string>;
  };
  on(event: string, fn: (...a: unknown[]) => void): unknown;
}

type ProviderClass = new (issuer: string, config: Record<string, unknown>) => ProviderInstance;

/**
 * Load oidc-provider once. Its import prints "Unsupported runtime" on Node 20 (it works there:
 * see TEST-PEERS.md); the demo narrates on the same terminal, so that one notice is dropped.
 */
let loaded: Promise<ProviderClass> | undefined;
function loadProvider(): Promise<ProviderClass> {
  return (loaded ??= (async () => {
    const warn = console.warn;
    console.warn = (...a: unknown[]) => {
      if (!String(a[0]).includes('Unsupported runtime')) warn(...a);
    };
    try {
      // oidc-provider ships no type declarations: it is typed above by the few members used.
      // @ts-expect-error -- untyped JS module
      const mod = (await import('oidc-provider')) as { default: ProviderClass };
      return mod.default;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw e;
      throw new TokenwardenError(
        'TW_CONFIG',
        'the demo sandbox needs the optional package oidc-provider, which this install left out (npm --omit=optional?); install it with `npm install oidc-provider` to run the demo',
        { cause: e },
      );
    } finally {
      console.warn = warn;
    }
  })());
}

export async function startOidcSandbox(opts: OidcSandboxOptions): Promise<OidcSandbox> {
  const clientId = 'demo-agent';
  const clientSecret = randomBytes(18).toString('base64url');
  const storage = new SandboxStorage();
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const scopes = ['openid', 'offline_access', 'email', 'profile'];
  const Provider = await loadProvider();
  const provider = new Provider(issuer, sandboxProviderConfig(opts, { clientId, clientSecret, scopes, storage }));
  // oidc-provider logs server errors through this event; the sandbox stays quiet.
  provider.on('server_error', () => undefined);

  routeProviderRequests(server, issuer, provider.callback(), (req, res, url) => interaction(provider, req, res, url));

  const introspectionUrl = `${issuer}/token/introspection`;
  return {
    issuer,
    clientId,
    clientSecret,
    introspectionUrl,
    approve: (authUrl, accountId = 'alice') =>
      new HeadlessHuman(issuer).authorize(authUrl, opts.redirectUri, accountId),
    revokeAll: () => {
      const grants = storage.all('Grant');
      for (const g of grants) storage.revokeGrant(String(g['jti']));
      return grants.length;
    },
    isActive: async (token) => {
      const res = await fetch(introspectionUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token, client_id: clientId, client_secret: clientSecret }),
      });
      if (!res.ok) return false;
      return ((await res.json()) as { active?: boolean }).active === true;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The interaction routes: a JSON prompt on GET, then login / confirm by POST (no HTML needed). */
async function interaction(
  provider: ProviderInstance,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<void> {
  const action = url.pathname.split('/')[3];
  const details = await provider.interactionDetails(req, res);
  if (req.method === 'GET' && action === undefined) {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ uid: details.uid, prompt: details.prompt.name }));
    return;
  }
  const form = new URLSearchParams(await readBody(req));
  if (action === 'login') {
    await provider.interactionFinished(
      req,
      res,
      { login: { accountId: form.get('accountId') ?? 'alice' } },
      { mergeWithLastSubmission: false },
    );
    return;
  }
  if (action === 'confirm') {
    const grant = new provider.Grant({
      accountId: details.session?.accountId ?? 'alice',
      clientId: String(details.params['client_id']),
    });
    const d = details.prompt.details;
    if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
    if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
    await provider.interactionFinished(
      req,
      res,
      { consent: { grantId: await grant.save() } },
      { mergeWithLastSubmission: true },
    );
    return;
  }
  res.statusCode = 404;
  res.end();
}

/** A minimal browser: follows redirects by hand with a cookie jar, stops at the redirect URI. */
class HeadlessHuman {
  private readonly jar = new Map<string, string>();
  constructor(private readonly origin: string) {}

  private async request(url: string, form?: Record<string, string>): Promise<Response> {
    const headers: Record<string, string> = {};
    if (this.jar.size && new URL(url).origin === this.origin)
      headers['cookie'] = [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
    if (form) headers['content-type'] = 'application/x-www-form-urlencoded';
    const res = await fetch(url, {
      method: form ? 'POST' : 'GET',
      headers,
      redirect: 'manual',
      ...(form ? { body: new URLSearchParams(form).toString() } : {}),
    });
    for (const c of res.headers.getSetCookie()) {
      const pair = c.split(';')[0] ?? '';
      const eq = pair.indexOf('=');
      if (eq < 0) continue;
      const value = pair.slice(eq + 1).trim();
      if (value === '' || /expires=Thu, 01 Jan 1970/i.test(c)) this.jar.delete(pair.slice(0, eq).trim());
      else this.jar.set(pair.slice(0, eq).trim(), value);
    }
    return res;
  }

  async authorize(authUrl: string, redirectUri: string, accountId: string): Promise<string> {
    let res = await this.request(authUrl);
    for (let hops = 0; hops < 20; hops++) {
      const location = res.headers.get('location');
      if (location) {
        await res.body?.cancel();
        const next = new URL(location, this.origin).toString();
        // The browser "ends on" the redirect URI: that address is what the human copies.
        if (next.startsWith(redirectUri)) return next;
        res = await this.request(next);
        continue;
      }
      const url = new URL(res.url || authUrl);
      if (!url.pathname.startsWith('/interaction/'))
        throw new Error(`sign-in stopped at ${url.pathname} (HTTP ${res.status})`);
      const { prompt } = (await res.json()) as { prompt: string };
      const base = `${this.origin}${url.pathname}`;
      res =
        prompt === 'login'
          ? await this.request(`${base}/login`, { accountId })
          : await this.request(`${base}/confirm`, {});
    }
    throw new Error('sign-in: too many redirects');
  }
}

/**
 * The provider's configuration: one confidential client, our own signing key, rotating refresh
 * tokens (like Microsoft and GitHub), revocation and introspection, short token lifetimes.
 */
function sandboxProviderConfig(
  opts: OidcSandboxOptions,
  c: { clientId: string; clientSecret: string; scopes: string[]; storage: SandboxStorage },
): Record<string, unknown> {
  const { clientId, clientSecret, scopes, storage } = c;
  // Our own signing key (ID tokens), so the provider does not fall back to its development keys.
  const signingKey = {
    ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }),
    use: 'sig',
    alg: 'RS256',
    kid: 'demo',
  };
  return {
    adapter: storage.adapterClass(),
    jwks: { keys: [signingKey] },
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: [opts.redirectUri],
        response_types: ['code'],
        grant_types: ['authorization_code', 'refresh_token'],
        token_endpoint_auth_method: 'client_secret_post',
        scope: scopes.join(' '),
      },
    ],
    cookies: { keys: [randomBytes(16).toString('hex')] },
    scopes,
    ...baseProviderConfig('sandbox.test'),
    // Like Microsoft and GitHub: every refresh returns a new refresh token; reusing an old one kills the grant.
    rotateRefreshToken: () => true,
    features: {
      devInteractions: { enabled: false },
      revocation: { enabled: true, allowedPolicy: () => true },
      introspection: { enabled: true, allowedPolicy: () => true },
    },
    ttl: {
      AccessToken: opts.accessTokenTtl ?? 4,
      RefreshToken: opts.refreshTokenTtl ?? 600,
      AuthorizationCode: 60,
      IdToken: 60,
      Interaction: 600,
      Session: 3600,
      Grant: 3600,
    },
  };
}
