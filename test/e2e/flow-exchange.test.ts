/**
 * Completing a flow is safe against both failure modes of the exchange: a provider outage
 * mid-exchange leaves the flow open so the human's same link still works, and a link sent
 * twice reaches the provider once (a code redeemed twice makes the provider revoke the grant).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError, TransientError } from '../../src/core/errors.js';
import { generateKey } from '../../src/store/key.js';
import { openWarden, type Warden, partsOf } from '../../src/warden.js';
import { startFaultProxy, type FaultProxy } from '../peers/fault-proxy.js';
import { startOidcProvider, type OidcPeer } from '../peers/oidc-provider.js';
import { sandboxConnection } from '../helpers/sandbox.js';

const REDIRECT = 'http://127.0.0.1:1/oauth/callback';
let peer: OidcPeer;
let proxy: FaultProxy;
let dir: string;
let a: Warden;
let b: Warden;

beforeAll(async () => {
  peer = await startOidcProvider({ redirectUris: [REDIRECT], accessTokenTtl: 600, refreshTokenTtl: 3600 });
  proxy = await startFaultProxy(peer.issuer);
  dir = mkdtempSync(join(tmpdir(), 'tw-exchange-'));
  const env = { K: generateKey().toString('base64') };
  const config = {
    store: 'sqlite:state.db',
    key: 'env:K',
    connections: {
      sandbox: sandboxConnection(peer, REDIRECT, { token_url: `${proxy.url}/token` }),
    },
  };
  // Two processes' worth of wardens on one store (distinct lease owners).
  a = await openWarden({ config, baseDir: dir, env, owner: 'node-a' });
  b = await openWarden({ config, baseDir: dir, env, owner: 'node-b' });
});

afterAll(async () => {
  await a?.close();
  await b?.close();
  await proxy?.stop();
  await peer?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('opening flows', () => {
  it('two processes noticing the same dead grant open one flow between them', async () => {
    for (const f of await partsOf(a).store.listOpenFlows('sandbox'))
      await partsOf(a).store.finishFlow(f.id, 'cancelled', Date.now(), 'test reset');
    const [fromA, fromB] = await Promise.all([partsOf(a).flows.open('sandbox'), partsOf(b).flows.open('sandbox')]);
    expect(fromB.id).toBe(fromA.id);
    expect(await partsOf(a).store.listOpenFlows('sandbox')).toHaveLength(1);
  });
});

describe('flow completion', () => {
  it('a provider outage mid-exchange keeps the flow open; the same link works once it recovers', async () => {
    const flow = await partsOf(a).flows.open('sandbox', { fresh: true });
    const pasted = await peer.approveAuthorization(flow.url);
    proxy.setMode('http503');
    await expect(partsOf(a).flows.completeFromInput(pasted, { via: 'test' })).rejects.toBeInstanceOf(TransientError);
    expect((await partsOf(a).store.getFlow(flow.id))?.status).toBe('open');
    proxy.setMode('pass');
    const done = await partsOf(b).flows.completeFromInput(pasted, { via: 'test' });
    expect(done.flowId).toBe(flow.id);
    expect((await partsOf(a).store.getFlow(flow.id))?.status).toBe('completed');
    expect((await peer.introspect(await a.accessToken('sandbox'))).active).toBe(true);
  });

  it('a link sent twice at once reaches the provider once, and the grant survives', async () => {
    const flow = await partsOf(a).flows.open('sandbox', { fresh: true });
    const pasted = await peer.approveAuthorization(flow.url);
    proxy.setMode('slow', { delayMs: 300 });
    const before = peer.tokenRequests('authorization_code');
    const results = await Promise.allSettled([
      partsOf(a).flows.completeFromInput(pasted, { via: 'chat' }),
      partsOf(b).flows.completeFromInput(pasted, { via: 'dashboard' }),
    ]);
    proxy.setMode('pass');
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(refused.reason).toBeInstanceOf(InputError);
    expect(peer.tokenRequests('authorization_code') - before).toBe(1);
    const token = await b.accessToken('sandbox');
    expect((await peer.introspect(token)).active).toBe(true);
    // A later replay is refused without reaching the provider.
    await expect(partsOf(a).flows.completeFromInput(pasted, { via: 'chat' })).rejects.toThrow(/already used/);
    expect(peer.tokenRequests('authorization_code') - before).toBe(1);
  });
});
