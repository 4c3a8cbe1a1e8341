/**
 * A real OAuth 2.0 / OpenID Connect server for tests: panva's certified `oidc-provider` (v9)
 * on an ephemeral 127.0.0.1 port, with one confidential client, authorization code + PKCE,
 * refresh-token rotation, device flow (RFC 8628), client credentials, revocation (RFC 7009)
 * and introspection (RFC 7662), plus a scriptable headless "human" who logs in and consents.
 *
 * See /work/shared/TEST-PEERS.md (oidc-provider section) for the recipe and its gotchas:
 * reusing a rotated refresh token revokes the whole grant — that is real provider behaviour.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
// oidc-provider ships no type declarations: it is typed here by the few members we use.
// @ts-expect-error -- untyped JS module
import ProviderImport from 'oidc-provider';
import { baseProviderConfig, readBody, routeProviderRequests } from '../../src/demo/oidc-basics.js';
import { OidcStorage } from './oidc-adapter.js';

export interface OidcPeerOptions {
  /** Access-token lifetime in seconds (default 5). */
  accessTokenTtl?: number;
  /** Refresh-token lifetime in seconds (default 30). */
  refreshTokenTtl?: number;
  /** Authorization-code lifetime in seconds (default 60). */
  authCodeTtl?: number;
  /** Device-code lifetime in seconds (default 120). */
  deviceCodeTtl?: number;
  /** Replace the refresh token on every use (default true). */
  rotateRefreshToken?: boolean;
  redirectUris?: string[];
  clientId?: string;
  clientSecret?: string;
  /** Scopes the server knows (default openid, offline_access, profile, email, api:read, api:write). */
  scopes?: string[];
  /** How the client authenticates at the token endpoint (default client_secret_post). */
  tokenEndpointAuthMethod?: 'client_secret_post' | 'client_secret_basic';
}

/** The members of an oidc-provider instance tests may want (the instance is the real thing). */
export interface OidcProviderInstance {
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  use(mw: (ctx: KoaCtx, next: () => Promise<void>) => Promise<void>): unknown;
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
  interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<InteractionDetails>;
  interactionFinished(
    req: IncomingMessage,
    res: ServerResponse,
    result: Record<string, unknown>,
    opts?: { mergeWithLastSubmission?: boolean },
  ): Promise<void>;
  Grant: new (init: { accountId: string; clientId: string }) => GrantInstance;
  [key: string]: unknown;
}

interface KoaCtx {
  path: string;
  method: string;
  status: number;
  oidc?: { params?: Record<string, unknown> };
}

interface InteractionDetails {
  uid: string;
  prompt: {
    name: string;
    details: {
      missingOIDCScope?: string[];
      missingOIDCClaims?: string[];
      missingResourceScopes?: Record<string, string[]>;
    };
  };
  params: Record<string, unknown>;
  session?: { accountId?: string };
  grantId?: string;
}

interface GrantInstance {
  addOIDCScope(scope: string): void;
  addOIDCClaims(claims: string[]): void;
  addResourceScope(resource: string, scope: string): void;
  save(): Promise<string>;
}

export interface OidcPeer {
  /** `http://127.0.0.1:PORT` (no trailing slash). */
  issuer: string;
  clientId: string;
  clientSecret: string;
  redirectUris: string[];
  provider: OidcProviderInstance;
  /** Token-endpoint requests so far, optionally only those of one `grant_type`. */
  tokenRequests(grantType?: string): number;
  /** Token-endpoint refusals so far (`invalid_grant`, `authorization_pending`, …). */
  tokenErrors(): Array<{ grantType: string; error: string; description?: string | undefined }>;
  /**
   * A headless human opens `authUrl`, logs in as `accountId` (default `alice`) and consents
   * (or denies). Returns the final redirect URL exactly as a human would paste it; the
   * redirect URI itself is not fetched.
   */
  approveAuthorization(authUrl: string, opts?: { accountId?: string; deny?: boolean }): Promise<string>;
  /** A headless human opens `verification_uri_complete`, confirms the code, logs in, consents (or denies). */
  approveDevice(verificationUriComplete: string, opts?: { accountId?: string; deny?: boolean }): Promise<void>;
  /** Revoke every grant (or one account's) server-side, as a user clicking "remove access". */
  revokeGrantsFor(accountId?: string): Promise<void>;
  /** RFC 7662 introspection through the real endpoint, authenticated as the client. */
  introspect(token: string): Promise<{ active: boolean; [k: string]: unknown }>;
  introspectionUrl: string;
  stop(): Promise<void>;
}

const Provider = ProviderImport as new (issuer: string, config: Record<string, unknown>) => OidcProviderInstance;

const COOKIE_KEYS = [randomBytes(16).toString('hex')];

/** Start a peer on 127.0.0.1 with an ephemeral port. Starts in a few milliseconds. */
export async function startOidcProvider(opts: OidcPeerOptions = {}): Promise<OidcPeer> {
  const clientId = opts.clientId ?? 'tw-client';
  const clientSecret = opts.clientSecret ?? 'tw-client-secret-0123456789abcdef';
  const redirectUris = opts.redirectUris ?? ['http://127.0.0.1:7465/oauth/callback'];
  const scopes = opts.scopes ?? ['openid', 'offline_access', 'profile', 'email', 'api:read', 'api:write'];
  const rotate = opts.rotateRefreshToken ?? true;
  const storage = new OidcStorage();

  // Bind first: the issuer must name the port.
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const issuer = `http://127.0.0.1:${port}`;

  const provider = new Provider(issuer, {
    adapter: storage.adapterClass(),
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: redirectUris,
        response_types: ['code'],
        grant_types: [
          'authorization_code',
          'refresh_token',
          'urn:ietf:params:oauth:grant-type:device_code',
          'client_credentials',
        ],
        token_endpoint_auth_method: opts.tokenEndpointAuthMethod ?? 'client_secret_post',
        // Mail servers (dovecot) introspect with HTTP Basic credentials in the URL.
        introspection_endpoint_auth_method: 'client_secret_basic',
        scope: scopes.join(' '),
      },
    ],
    cookies: { keys: COOKIE_KEYS },
    scopes,
    ...baseProviderConfig('example.test'),
    rotateRefreshToken: () => rotate,
    features: {
      devInteractions: { enabled: false },
      deviceFlow: {
        enabled: true,
        // Plain pages (also silences oidc-provider's "you SHOULD change" notices).
        userCodeInputSource: (ctx: { body: string }, form: string) => {
          ctx.body = page(form);
        },
        userCodeConfirmSource: (ctx: { body: string }, form: string) => {
          ctx.body = page(form);
        },
        successSource: (ctx: { body: string }) => {
          ctx.body = page('<p id="device-success">Signed in.</p>');
        },
      },
      revocation: { enabled: true, allowedPolicy: () => true },
      introspection: { enabled: true, allowedPolicy: () => true },
      clientCredentials: { enabled: true },
    },
    ttl: {
      AccessToken: opts.accessTokenTtl ?? 5,
      ClientCredentials: opts.accessTokenTtl ?? 5,
      RefreshToken: opts.refreshTokenTtl ?? 30,
      AuthorizationCode: opts.authCodeTtl ?? 60,
      DeviceCode: opts.deviceCodeTtl ?? 120,
      IdToken: 60,
      Interaction: 600,
      Session: 3600,
      Grant: 3600,
    },
  });

  const counts = new Map<string, number>();
  const errors: Array<{ grantType: string; error: string; description?: string | undefined }> = [];
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.method === 'POST' && ctx.path === '/token') {
      const gt = typeof ctx.oidc?.params?.['grant_type'] === 'string' ? ctx.oidc.params['grant_type'] : 'unknown';
      counts.set(gt, (counts.get(gt) ?? 0) + 1);
    }
  });
  provider.on('grant.error', (ctx, err) => {
    const c = ctx as KoaCtx;
    const e = err as { error?: string; error_detail?: string };
    const gt = typeof c.oidc?.params?.['grant_type'] === 'string' ? c.oidc.params['grant_type'] : 'unknown';
    errors.push({ grantType: gt, error: e.error ?? 'server_error', description: e.error_detail });
  });

  routeProviderRequests(server, issuer, provider.callback(), (req, res, url) => interaction(provider, req, res, url));

  const introspectionUrl = `${issuer}/token/introspection`;

  return {
    issuer,
    clientId,
    clientSecret,
    redirectUris,
    provider,
    introspectionUrl,
    tokenRequests: (grantType) =>
      grantType === undefined ? [...counts.values()].reduce((a, b) => a + b, 0) : (counts.get(grantType) ?? 0),
    tokenErrors: () => errors.slice(),
    approveAuthorization: (authUrl, o = {}) =>
      new HeadlessBrowser(issuer).authorize(authUrl, redirectUris, o.accountId ?? 'alice', o.deny ?? false),
    approveDevice: (uri, o = {}) => new HeadlessBrowser(issuer).device(uri, o.accountId ?? 'alice', o.deny ?? false),
    revokeGrantsFor: (accountId) => {
      for (const g of storage.all('Grant')) {
        if (accountId === undefined || g['accountId'] === accountId) storage.revokeGrant(String(g['jti']));
      }
      return Promise.resolve();
    },
    introspect: async (token) => {
      const res = await fetch(introspectionUrl, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`,
        },
        body: new URLSearchParams({ token }),
      });
      if (!res.ok) throw new Error(`introspection answered HTTP ${res.status}`);
      return (await res.json()) as { active: boolean; [k: string]: unknown };
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The interaction routes a human's browser visits: show the prompt, log in, consent or abort. */
async function interaction(
  provider: OidcProviderInstance,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<void> {
  const [, , , action] = url.pathname.split('/');
  const details = await provider.interactionDetails(req, res);
  if (req.method === 'GET' && action === undefined) {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ uid: details.uid, prompt: details.prompt.name }));
    return;
  }
  const form = new URLSearchParams(await readBody(req));
  if (action === 'abort') {
    await provider.interactionFinished(
      req,
      res,
      { error: 'access_denied', error_description: 'End-User aborted interaction' },
      { mergeWithLastSubmission: false },
    );
    return;
  }
  if (action === 'login') {
    const accountId = form.get('accountId') ?? 'alice';
    await provider.interactionFinished(req, res, { login: { accountId } }, { mergeWithLastSubmission: false });
    return;
  }
  if (action === 'confirm') {
    const accountId = details.session?.accountId ?? 'alice';
    const clientId = String(details.params['client_id']);
    const grant = new provider.Grant({ accountId, clientId });
    const d = details.prompt.details;
    if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
    if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
    for (const [resource, scopes] of Object.entries(d.missingResourceScopes ?? {}))
      grant.addResourceScope(resource, scopes.join(' '));
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    return;
  }
  res.statusCode = 404;
  res.end();
}

function page(body: string): string {
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>oidc peer</title></head><body>${body}</body></html>`;
}

/** A minimal browser: manual redirects, a cookie jar (by name; paths ignored), HTML hidden-field forms. */
class HeadlessBrowser {
  private readonly jar = new Map<string, string>();
  constructor(private readonly origin: string) {}

  private async request(url: string, init: { method?: string; form?: Record<string, string> } = {}): Promise<Response> {
    const headers: Record<string, string> = {};
    const cookies = [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
    if (cookies && new URL(url).origin === this.origin) headers['cookie'] = cookies;
    let body: string | undefined;
    if (init.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(init.form).toString();
    }
    const res = await fetch(url, {
      method: init.method ?? 'GET',
      headers,
      redirect: 'manual',
      ...(body === undefined ? {} : { body }),
    });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = pair?.indexOf('=') ?? -1;
      if (!pair || eq < 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (/expires=Thu, 01 Jan 1970/i.test(c) || value === '') this.jar.delete(name);
      else this.jar.set(name, value);
    }
    return res;
  }

  /** Walk the authorization request until the browser is sent to a registered redirect URI. */
  async authorize(authUrl: string, redirectUris: string[], accountId: string, deny: boolean): Promise<string> {
    let res = await this.request(authUrl);
    for (let hops = 0; hops < 20; hops++) {
      const location = res.headers.get('location');
      if (location) {
        const next = new URL(location, res.url || authUrl).toString();
        if (redirectUris.some((r) => next.startsWith(r))) {
          await res.body?.cancel();
          return next;
        }
        await res.body?.cancel();
        res = await this.request(next);
        continue;
      }
      const url = new URL(res.url);
      if (url.pathname.startsWith('/interaction/')) {
        res = await this.interact(url, res, accountId, deny);
        continue;
      }
      throw new Error(
        `authorization stopped at ${url.pathname} with HTTP ${res.status}: ${(await res.text()).slice(0, 300)}`,
      );
    }
    throw new Error('too many redirects');
  }

  private async interact(url: URL, res: Response, accountId: string, deny: boolean): Promise<Response> {
    const { prompt } = (await res.json()) as { prompt: string };
    const base = `${this.origin}${url.pathname}`;
    if (deny) return this.request(`${base}/abort`, { method: 'POST', form: {} });
    if (prompt === 'login') return this.request(`${base}/login`, { method: 'POST', form: { accountId } });
    return this.request(`${base}/confirm`, { method: 'POST', form: {} });
  }

  /** RFC 8628 §3.3 from the human's side: open the link, confirm the code, log in, consent. */
  async device(verificationUriComplete: string, accountId: string, deny: boolean): Promise<void> {
    const first = await this.request(verificationUriComplete);
    const fields = hiddenFields(await first.text());
    const action = `${this.origin}/device`;
    // The GET renders an auto-submitting form (xsrf + user_code); submitting it shows the confirm page.
    const confirmPage = await this.request(action, { method: 'POST', form: fields });
    const confirmFields = hiddenFields(await confirmPage.text());
    if (deny) {
      const r = await this.request(action, {
        method: 'POST',
        form: { xsrf: confirmFields['xsrf'] ?? '', user_code: confirmFields['user_code'] ?? '', abort: 'yes' },
      });
      await r.body?.cancel();
      return;
    }
    let res = await this.request(action, { method: 'POST', form: confirmFields });
    for (let hops = 0; hops < 20; hops++) {
      const location = res.headers.get('location');
      if (location) {
        await res.body?.cancel();
        res = await this.request(new URL(location, this.origin).toString());
        continue;
      }
      const url = new URL(res.url);
      if (url.pathname.startsWith('/interaction/')) {
        res = await this.interact(url, res, accountId, false);
        continue;
      }
      const text = await res.text();
      if (res.status === 200 && !/"error"/.test(text)) return;
      throw new Error(`device approval stopped at ${url.pathname} with HTTP ${res.status}: ${text.slice(0, 300)}`);
    }
    throw new Error('too many redirects');
  }
}

function hiddenFields(html: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of html.matchAll(/<input[^>]*type="hidden"[^>]*>/g)) {
    const name = /name="([^"]+)"/.exec(m[0])?.[1];
    const value = /value="([^"]*)"/.exec(m[0])?.[1];
    if (name) out[name] = value ?? '';
  }
  return out;
}
