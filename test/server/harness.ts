/**
 * A real server context for HTTP tests: a warden on a temp SQLite store with one `sandbox`
 * connection at a real oidc-provider, the real re-auth orchestrator, a logger that keeps every
 * line (for secret-hygiene checks), and the Hono app (`app.request()` needs no socket).
 */
import { createServer } from 'node:net';
import type { Hono } from 'hono';
import { jsonLogger, type Logger } from '../../src/core/logger.js';
import { createMailService } from '../../src/mail/index.js';
import { createOrchestrator, type ReauthOrchestrator } from '../../src/reauth/orchestrator.js';
import { createApp } from '../../src/server/app.js';
import type { ServerContext } from '../../src/server/context.js';
import { openWarden, type Warden, partsOf } from '../../src/warden.js';
import { startOidcProvider, type OidcPeer } from '../peers/oidc-provider.js';
import { makeWorkspace, type Workspace } from '../helpers/workspace.js';

export const API_KEY = 'test-api-key-0123456789abcdef';

export async function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

export interface Harness {
  peer: OidcPeer;
  ws: Workspace;
  warden: Warden;
  orchestrator: ReauthOrchestrator;
  ctx: ServerContext;
  app: Hono;
  baseUrl: string;
  /** Every log line written by the warden and the server. */
  logs: string[];
  /** Authorize `sandbox` end to end (flow opened, human approves at the provider, paste completes). */
  authorize(opts?: { accountId?: string; connection?: string }): Promise<void>;
  /** Send an API request with the API key. */
  api(path: string, init?: RequestInit): Promise<Response>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  port?: number;
  /** More connections, built once the provider peer is up. */
  extraConnections?: (peer: OidcPeer, redirectUri: string) => Promise<Record<string, unknown>>;
  /** `mailboxes:` config; when given, a real mail service is built on the warden and passed as `ctx.mail`. */
  mailboxes?: Record<string, unknown>;
  ctx?: Partial<ServerContext>;
}

export async function startHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const port = opts.port ?? (await freePort());
  const baseUrl = `http://127.0.0.1:${port}`;
  const redirectUri = `${baseUrl}/oauth/callback`;
  const peer = await startOidcProvider({ redirectUris: [redirectUri], accessTokenTtl: 300, refreshTokenTtl: 3600 });
  const ws = makeWorkspace({
    connections: {
      sandbox: {
        provider: 'oidc',
        issuer: peer.issuer,
        client_id: peer.clientId,
        client_secret: peer.clientSecret,
        redirect_uri: redirectUri,
        scopes: ['openid', 'offline_access', 'api:read'],
        flow: 'auth_code',
      },
      ...(await opts.extraConnections?.(peer, redirectUri)),
    },
    ...(opts.mailboxes ? { mailboxes: opts.mailboxes } : {}),
  });
  const logs: string[] = [];
  const logger: Logger = jsonLogger('debug', (l) => logs.push(l));
  const warden = await openWarden({ configPath: ws.configPath, logger });
  const orchestrator = createOrchestrator(partsOf(warden), { channels: new Map(), baseUrl, logger });
  await orchestrator.start();
  const mail = opts.mailboxes
    ? createMailService({
        config: warden.config,
        store: partsOf(warden).store,
        tokens: partsOf(warden).keeper,
        clock: partsOf(warden).deps.clock,
        logger,
        events: partsOf(warden).sink,
        owner: 'test',
      })
    : undefined;
  const ctx: ServerContext = {
    warden,
    orchestrator,
    apiKey: API_KEY,
    clock: partsOf(warden).deps.clock,
    logger,
    baseUrl,
    mail,
    ...opts.ctx,
  };
  const app = createApp(ctx);
  return {
    peer,
    ws,
    warden,
    orchestrator,
    ctx,
    app,
    baseUrl,
    logs,
    async authorize(a = {}) {
      const flow = await partsOf(warden).flows.open(a.connection ?? 'sandbox', { reason: 'manual' });
      const finalUrl = await peer.approveAuthorization(flow.url, a.accountId ? { accountId: a.accountId } : {});
      await partsOf(warden).flows.completeFromInput(finalUrl, { via: 'test' });
    },
    api(path, init = {}) {
      const headers = new Headers(init.headers);
      headers.set('authorization', `Bearer ${API_KEY}`);
      return Promise.resolve(app.request(path, { ...init, headers }));
    },
    async close() {
      await mail?.stop();
      await orchestrator.stop();
      await warden.close();
      await peer.stop();
      ws.cleanup();
    },
  };
}

/** Every secret value stored for a connection (to prove none leaks). */
export async function storedSecrets(warden: Warden, name: string): Promise<string[]> {
  const row = await partsOf(warden).store.getConnection(name);
  return [row?.accessToken, row?.refreshToken, row?.idToken].filter(
    (x): x is string => typeof x === 'string' && x.length > 0,
  );
}
