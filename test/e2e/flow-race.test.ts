/**
 * One redirect URL submitted many times at once — a double-clicked Complete button, the browser
 * callback and a chat paste arriving together, another process pasting the same answer — reaches
 * the provider exactly once, and the grant it restores survives. The peer is the real
 * oidc-provider, which revokes the whole grant when an authorization code is redeemed twice.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import { openWarden, type Warden, partsOf } from '../../src/warden.js';
import { makeWorkspace, type Workspace } from '../helpers/workspace.js';
import { sandboxConnection } from '../helpers/sandbox.js';
import { startNode, type NodeProcess } from '../multinode/nodes.js';
import { startOidcProvider, type OidcPeer } from '../peers/oidc-provider.js';
import { freePort } from '../daemon/helpers.js';

const API_KEY = 'race-test-api-key-0123456789abcdef';
let peer: OidcPeer;
let ws: Workspace;
let daemon: Daemon;
/** A second warden in this process on the same store, with its own lease owner. */
let other: Warden;
let redirectUri: string;
let cookie: string;
let csrf: string;

beforeAll(async () => {
  const port = await freePort();
  redirectUri = `http://127.0.0.1:${port}/oauth/callback`;
  peer = await startOidcProvider({ redirectUris: [redirectUri], accessTokenTtl: 600, refreshTokenTtl: 3600 });
  ws = makeWorkspace({});
  ws.writeConfig({
    connections: { sandbox: sandboxConnection(peer, redirectUri) },
    server: { listen: `127.0.0.1:${port}`, api_key: API_KEY },
  });
  daemon = await startDaemon({ configPath: ws.configPath, scheduler: { probeIntervalMs: 0 } });
  other = await openWarden({ configPath: ws.configPath, owner: 'same-host-other-warden' });
  // A dashboard session: sign in with a one-time link, keep the cookie and the form token.
  const link = daemon.loginLink();
  const signedIn = await fetch(new URL('/login', daemon.baseUrl), {
    method: 'POST',
    body: new URLSearchParams({ token: link.searchParams.get('token') ?? '' }),
    redirect: 'manual',
  });
  expect(signedIn.status).toBe(303);
  cookie = (signedIn.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  const home = await (await fetch(new URL('/', daemon.baseUrl), { headers: { cookie } })).text();
  csrf = /name="_csrf" value="([^"]+)"/.exec(home)?.[1] ?? '';
  expect(csrf).not.toBe('');
});

afterAll(async () => {
  await other?.close();
  await daemon?.close();
  await peer?.stop();
  ws?.cleanup();
});

/** A fresh flow approved by alice: the redirect URL the human would paste or their browser would reach. */
async function approvedUrl(): Promise<{ flowId: string; url: string }> {
  const flow = await partsOf(daemon.warden).flows.open('sandbox', { fresh: true });
  return { flowId: flow.id, url: await peer.approveAuthorization(flow.url) };
}

const viaCallback = (url: string): Promise<number> => fetch(url).then(async (r) => (await r.text(), r.status));

const viaDashboard = (url: string): Promise<number> =>
  fetch(new URL('/flows/complete', daemon.baseUrl), {
    method: 'POST',
    headers: { cookie },
    body: new URLSearchParams({ _csrf: csrf, input: url }),
    redirect: 'manual',
  }).then(async (r) => (await r.text(), r.status));

const viaApi = (url: string): Promise<number> =>
  fetch(new URL('/api/v1/flows/complete', daemon.baseUrl), {
    method: 'POST',
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ input: url }),
  }).then(async (r) => (await r.text(), r.status));

/** The grant is alive at the provider: a refresh (rotating the refresh token) works and its access token is active. */
async function expectHealthyGrant(): Promise<void> {
  const info = await partsOf(daemon.warden).keeper.forceRefresh('sandbox');
  expect((await peer.introspect(info.accessToken)).active).toBe(true);
}

describe('the peer', () => {
  it('revokes the whole grant when an authorization code is redeemed twice', async () => {
    const { flowId, url } = await approvedUrl();
    const flow = await partsOf(daemon.warden).store.getFlow(flowId);
    const redeem = (): Promise<Response> =>
      fetch(`${peer.issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code: new URL(url).searchParams.get('code') ?? '',
          redirect_uri: redirectUri,
          code_verifier: flow?.codeVerifier ?? '',
          client_id: peer.clientId,
          client_secret: peer.clientSecret,
        }),
      });
    const first = await redeem();
    expect(first.status).toBe(200);
    const { refresh_token: refreshToken } = (await first.json()) as { refresh_token: string };
    const second = await redeem();
    expect(second.status).toBe(400);
    expect(((await second.json()) as { error: string }).error).toBe('invalid_grant');
    // The tokens of the first redemption died with the grant.
    expect((await peer.introspect(refreshToken)).active).toBe(false);
    await partsOf(daemon.warden).store.finishFlow(flowId, 'cancelled', Date.now(), 'test: redeemed by hand');
  });
});

describe('one redirect URL submitted many times at once', () => {
  it('in one daemon (callback, dashboard, API, library, a second warden): one exchange, healthy grant — 50 rounds', async () => {
    for (let round = 0; round < 50; round++) {
      const { flowId, url } = await approvedUrl();
      const before = peer.tokenRequests('authorization_code');
      const results = await Promise.allSettled([
        viaCallback(url),
        viaCallback(url),
        viaDashboard(url),
        viaDashboard(url),
        viaApi(url),
        partsOf(daemon.warden).flows.completeFromInput(url, { via: 'chat' }),
        daemon.orchestrator.complete(url, { via: 'chat' }),
        partsOf(other).flows.completeFromInput(url, { via: 'other' }),
      ]);
      expect(peer.tokenRequests('authorization_code') - before, `round ${round}`).toBe(1);
      // Every path answered (a page, a redirect back to the dashboard, JSON), accepted or refused in words.
      const [cb1, cb2, dash1, dash2, api] = results;
      for (const r of [cb1, cb2, api]) expect([200, 400]).toContain((r as PromiseFulfilledResult<number>).value);
      for (const r of [dash1, dash2]) expect((r as PromiseFulfilledResult<number>).value).toBe(303);
      for (const r of results) if (r.status === 'rejected') expect(String(r.reason)).toMatch(/Not accepted/);
      expect((await partsOf(daemon.warden).store.getFlow(flowId))?.status).toBe('completed');
      await expectHealthyGrant();
    }
  });

  it('in-process duplicates get the first submission’s result, not a refusal', async () => {
    const { flowId, url } = await approvedUrl();
    const [a, b] = await Promise.all([
      partsOf(daemon.warden).flows.completeFromInput(url, { via: 'dashboard' }),
      partsOf(daemon.warden).flows.completeFromInput(url, { via: 'callback' }),
    ]);
    expect(a).toEqual(b);
    expect(a.flowId).toBe(flowId);
  });

  it('across processes (daemon, a worker process, the complete CLI) on one SQLite store: one exchange — 20 rounds', async () => {
    const worker: NodeProcess = await startNode(ws.configPath, 'worker-process');
    try {
      for (let round = 0; round < 20; round++) {
        const { flowId, url } = await approvedUrl();
        const before = peer.tokenRequests('authorization_code');
        const t = Date.now();
        await Promise.allSettled([
          // The CLI in a few rounds only: starting a process is slow, so it mostly finds the link used.
          ...(round % 5 === 0 ? [ws.cli(['complete', url])] : []),
          ...Array.from({ length: 4 }, () => worker.ask({ op: 'complete', t, input: url })),
          viaCallback(url),
          viaDashboard(url),
          partsOf(daemon.warden).flows.completeFromInput(url, { via: 'chat' }),
          partsOf(other).flows.completeFromInput(url, { via: 'other' }),
        ]);
        expect(peer.tokenRequests('authorization_code') - before, `round ${round}`).toBe(1);
        expect((await partsOf(daemon.warden).store.getFlow(flowId))?.status).toBe('completed');
        await expectHealthyGrant();
      }
    } finally {
      await worker.exit();
    }
  });
});
