/**
 * A re-authorization is bound to the connection's account: whoever holds a link's `state` can
 * complete it with their own account (the callback is a plain cross-site GET), and that must
 * not silently turn alice's connection into mallory's. Real oidc-provider, real daemon.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import type { WardenEvent } from '../../src/core/types.js';
import { makeWorkspace, type Workspace } from '../helpers/workspace.js';
import { sandboxConnection } from '../helpers/sandbox.js';
import { startOidcProvider, type OidcPeer } from '../peers/oidc-provider.js';
import { freePort } from '../daemon/helpers.js';
import { partsOf } from '../../src/warden.js';

let peer: OidcPeer;
let ws: Workspace;
let daemon: Daemon;
let redirectUri: string;

beforeAll(async () => {
  const port = await freePort();
  redirectUri = `http://127.0.0.1:${port}/oauth/callback`;
  peer = await startOidcProvider({ redirectUris: [redirectUri], accessTokenTtl: 600, refreshTokenTtl: 3600 });
  ws = makeWorkspace({});
  const scopes = ['openid', 'offline_access'];
  ws.writeConfig({
    connections: {
      sandbox: sandboxConnection(peer, redirectUri, { scopes }),
      switchable: sandboxConnection(peer, redirectUri, { scopes, allow_account_change: true }),
      // No ID token and no profile endpoint for these scopes: the account cannot be compared.
      anonymous: sandboxConnection(peer, redirectUri, { scopes: ['offline_access', 'api:read'] }),
    },
    server: { listen: `127.0.0.1:${port}` },
  });
  daemon = await startDaemon({ configPath: ws.configPath, scheduler: { probeIntervalMs: 0 } });
});

afterAll(async () => {
  await daemon?.close();
  await peer?.stop();
  ws?.cleanup();
});

/** Open a fresh link for `conn`, let `accountId` approve it, and follow the browser to the daemon's callback. */
async function authorize(conn: string, accountId: string): Promise<{ status: number; page: string; flowId: string }> {
  const flow = await daemon.orchestrator.requestReauth(conn, { reason: 'manual', fresh: true });
  const res = await fetch(await peer.approveAuthorization(flow.url, { accountId }));
  return { status: res.status, page: await res.text(), flowId: flow.id };
}

/** A dashboard session: the Cookie header and the form token. */
async function signIn(): Promise<{ cookie: string; csrf: string }> {
  const signedIn = await fetch(new URL('/login', daemon.baseUrl), {
    method: 'POST',
    body: new URLSearchParams({ token: daemon.loginLink().searchParams.get('token') ?? '' }),
    redirect: 'manual',
  });
  const cookie = (signedIn.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  const home = await (await fetch(new URL('/', daemon.baseUrl), { headers: { cookie } })).text();
  return { cookie, csrf: /name="_csrf" value="([^"]+)"/.exec(home)?.[1] ?? '' };
}

function confirmChange(cookie: string, conn: string, form: Record<string, string>): Promise<Response> {
  return fetch(new URL(`/connections/${conn}/account-change`, daemon.baseUrl), {
    method: 'POST',
    headers: { cookie },
    body: new URLSearchParams(form),
    redirect: 'manual',
  });
}

async function eventsOf(conn: string, type: WardenEvent['type']): Promise<WardenEvent[]> {
  return (await partsOf(daemon.warden).store.listEvents({ connection: conn, limit: 1000 })).filter(
    (e) => e.type === type,
  );
}

describe('re-authorization with another account', () => {
  it('is refused and recorded; the connection keeps its account and tokens; the right account is accepted', async () => {
    const first = await authorize('sandbox', 'alice');
    expect(first.status).toBe(200);
    expect(first.page).toContain('sandbox is healthy again (account alice)');
    expect((await eventsOf('sandbox', 'reauth_completed')).at(-1)?.data).toMatchObject({ accountCheck: 'first' });
    const before = await partsOf(daemon.warden).store.getConnection('sandbox');

    const stolen = await authorize('sandbox', 'mallory');
    expect(stolen.status).toBe(400);
    expect(stolen.page).toContain(
      'this link was completed with account mallory, but sandbox belongs to alice; nothing was changed.',
    );
    const [refused] = await eventsOf('sandbox', 'account_change_refused');
    expect(refused?.data).toMatchObject({
      flowId: stolen.flowId,
      belongsTo: 'alice',
      completedAs: 'mallory',
    });
    const flow = await partsOf(daemon.warden).store.getFlow(stolen.flowId);
    expect(flow?.status).toBe('failed');
    expect(flow?.outcome).toMatch(/refused: completed as mallory/);
    const after = await partsOf(daemon.warden).store.getConnection('sandbox');
    expect(after?.account).toBe('alice');
    expect(after?.accessToken).toBe(before?.accessToken);
    expect(after?.refreshToken).toBe(before?.refreshToken);
    expect(after?.state).toBe('healthy');
    // Callers keep getting alice's token.
    const token = await daemon.warden.accessToken('sandbox');
    expect(token).toBe(before?.accessToken);
    expect(await peer.introspect(token)).toMatchObject({ active: true, sub: 'alice' });

    const again = await authorize('sandbox', 'alice');
    expect(again.status).toBe(200);
    expect((await eventsOf('sandbox', 'reauth_completed')).at(-1)?.data).toMatchObject({ accountCheck: 'same' });
    expect(await eventsOf('sandbox', 'account_changed')).toHaveLength(0);
  });

  it('can be confirmed in the dashboard: a fresh link then accepts that one account', async () => {
    const stolen = await authorize('sandbox', 'mallory');
    expect(stolen.status).toBe(400);
    expect(stolen.page).toContain('confirm the change in the dashboard');
    const { cookie, csrf } = await signIn();
    const home = await (await fetch(new URL('/', daemon.baseUrl), { headers: { cookie } })).text();
    expect(home).toContain('Confirm the change to mallory');
    expect(home).toContain(`name="flow" value="${stolen.flowId}"`);
    const confirm = (form: Record<string, string>): Promise<Response> => confirmChange(cookie, 'sandbox', form);
    // No form token: refused, nothing opened.
    expect((await confirm({ flow: stolen.flowId })).status).toBe(403);
    expect(await partsOf(daemon.warden).store.listOpenFlows('sandbox')).toHaveLength(0);
    // A flow that was not refused: nothing opened, the page says so.
    expect((await confirm({ _csrf: csrf, flow: 'not-a-refused-flow' })).status).toBe(303);
    expect(await (await fetch(new URL('/', daemon.baseUrl), { headers: { cookie } })).text()).toContain(
      'No refused account change of sandbox to confirm',
    );
    expect(await partsOf(daemon.warden).store.listOpenFlows('sandbox')).toHaveLength(0);

    expect((await confirm({ _csrf: csrf, flow: stolen.flowId })).status).toBe(303);
    const [link] = await partsOf(daemon.warden).store.listOpenFlows('sandbox');
    expect(link?.reason).toBe('account_change:mallory');
    const res = await fetch(await peer.approveAuthorization(link?.url ?? '', { accountId: 'mallory' }));
    expect(res.status).toBe(200);
    const [changed] = await eventsOf('sandbox', 'account_changed');
    expect(changed?.data).toMatchObject({ flowId: link?.id, from: 'alice', to: 'mallory' });
    expect(changed?.message).toMatch(/confirmed in the dashboard/);
    expect(await peer.introspect(await daemon.warden.accessToken('sandbox'))).toMatchObject({ sub: 'mallory' });
    // Completed: nothing left to confirm.
    expect(await (await fetch(new URL('/', daemon.baseUrl), { headers: { cookie } })).text()).not.toContain(
      'Confirm the change',
    );
  });

  it('a confirmed link still refuses any other account', async () => {
    // sandbox belongs to mallory now; alice's attempt is refused and confirmed — then eve completes the link.
    const refused = await authorize('sandbox', 'alice');
    expect(refused.status).toBe(400);
    const { cookie, csrf } = await signIn();
    expect((await confirmChange(cookie, 'sandbox', { _csrf: csrf, flow: refused.flowId })).status).toBe(303);
    const [link] = await partsOf(daemon.warden).store.listOpenFlows('sandbox');
    expect(link?.reason).toBe('account_change:alice');
    const res = await fetch(await peer.approveAuthorization(link?.url ?? '', { accountId: 'eve' }));
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('completed with account eve, but sandbox belongs to mallory');
    expect((await eventsOf('sandbox', 'account_change_refused')).at(-1)?.data).toMatchObject({
      flowId: link?.id,
      completedAs: 'eve',
    });
    expect((await partsOf(daemon.warden).store.getConnection('sandbox'))?.account).toBe('mallory');
  });

  it('is accepted with allow_account_change: true, and recorded as account_changed', async () => {
    expect((await authorize('switchable', 'alice')).status).toBe(200);
    const switched = await authorize('switchable', 'mallory');
    expect(switched.status).toBe(200);
    expect(switched.page).toContain('switchable is healthy again (account mallory)');
    const [changed] = await eventsOf('switchable', 'account_changed');
    expect(changed?.data).toMatchObject({
      flowId: switched.flowId,
      from: 'alice',
      to: 'mallory',
    });
    expect((await partsOf(daemon.warden).store.getConnection('switchable'))?.account).toBe('mallory');
    expect(await peer.introspect(await daemon.warden.accessToken('switchable'))).toMatchObject({
      active: true,
      sub: 'mallory',
    });
  });

  it('cannot be compared without an ID token or profile: accepted, and the event says so', async () => {
    expect((await authorize('anonymous', 'alice')).status).toBe(200);
    const second = await authorize('anonymous', 'mallory');
    expect(second.status).toBe(200);
    const last = (await eventsOf('anonymous', 'reauth_completed')).at(-1);
    expect(last?.data).toMatchObject({ flowId: second.flowId, accountCheck: 'unknown' });
    expect(last?.message).toMatch(/The account could not be compared with the previous one/);
  });
});
