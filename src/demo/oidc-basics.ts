/**
 * What every local `oidc-provider` of ours shares — the demo's sandbox (src/demo/oidc-sandbox.ts)
 * and the tests' peer (test/peers/oidc-provider.ts): account lookup and claims, PKCE required,
 * refresh tokens only for `offline_access`, interaction URLs, JSON error pages, and the front
 * door that asks for consent when `offline_access` is requested (OIDC Core §11: a real consent
 * screen always shows then; oidc-provider drops the scope without `prompt=consent`).
 * @see https://github.com/panva/node-oidc-provider/blob/main/docs/README.md
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';

/** Provider configuration shared by the sandbox and the test peer; accounts are `<sub>@<emailDomain>`. */
export function baseProviderConfig(emailDomain: string): Record<string, unknown> {
  return {
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    findAccount: (_ctx: unknown, sub: string) => ({
      accountId: sub,
      claims: () => ({ sub, email: `${sub}@${emailDomain}`, email_verified: true, name: sub }),
    }),
    pkce: { required: () => true },
    issueRefreshToken: (
      _ctx: unknown,
      client: { grantTypeAllowed(t: string): boolean },
      code: { scopes: Set<string> },
    ) => client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access'),
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    renderError: (ctx: { type: string; body: unknown }, out: Record<string, string>) => {
      ctx.type = 'json';
      ctx.body = out;
    },
  };
}

/** Add `prompt=consent` to an authorization request for `offline_access` that has no prompt. */
export function consentFrontDoor(req: IncomingMessage, url: URL): void {
  if (url.pathname !== '/auth' || req.method !== 'GET') return;
  if ((url.searchParams.get('scope') ?? '').split(' ').includes('offline_access') && !url.searchParams.has('prompt')) {
    url.searchParams.set('prompt', 'consent');
    req.url = url.pathname + url.search;
  }
}

export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/**
 * Route the server's requests: `/interaction/…` to our own interaction pages (no HTML templates
 * of oidc-provider), everything else through the consent front door to oidc-provider.
 */
export function routeProviderRequests(
  server: Server,
  issuer: string,
  oidcHandler: (req: IncomingMessage, res: ServerResponse) => void,
  interaction: (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void>,
): void {
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', issuer);
    if (url.pathname.startsWith('/interaction/')) {
      interaction(req, res, url).catch((e: unknown) => {
        res.statusCode = 500;
        res.end(`interaction failed: ${(e as Error).message}`);
      });
      return;
    }
    consentFrontDoor(req, url);
    oidcHandler(req, res);
  });
}
