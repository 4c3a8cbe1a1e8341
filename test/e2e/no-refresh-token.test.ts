/**
 * An authorization that brings no refresh token (a real oidc-provider asked without
 * offline_access) is said at once — in the completion answer, an event and the status cause —
 * with what to change; the predicted death is the access token's expiry, never "no known limit".
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { acceptedReply } from '../../src/reauth/replies.js';
import { generateKey } from '../../src/store/key.js';
import { openWarden, type Warden, type WardenParts, partsOf } from '../../src/warden.js';
import { sandboxConnection } from '../helpers/sandbox.js';
import { lines, makeWorkspace } from '../helpers/workspace.js';
import { startOidcProvider, type OidcPeer } from '../peers/oidc-provider.js';

const REDIRECT = 'http://127.0.0.1:1/oauth/callback';
/** `connect` listens on its redirect URI's port: a free one. */
let CLI_REDIRECT: string;
let peer: OidcPeer;

async function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}
let dir: string;
const opened: Warden[] = [];

async function authorizeWith(
  scopes: string[],
  db: string,
): Promise<{ w: Warden; done: Awaited<ReturnType<WardenParts['flows']['completeFromInput']>> }> {
  const w = await openWarden({
    config: {
      store: `sqlite:${join(dir, db)}`,
      key: 'env:TW_KEY',
      connections: { sandbox: sandboxConnection(peer, REDIRECT, { scopes }) },
    },
    baseDir: dir,
    env: { TW_KEY: generateKey().toString('base64') },
  });
  opened.push(w);
  const flow = await partsOf(w).flows.open('sandbox');
  const done = await partsOf(w).flows.completeFromInput(await peer.approveAuthorization(flow.url), { via: 'test' });
  return { w, done };
}

beforeAll(async () => {
  CLI_REDIRECT = `http://127.0.0.1:${await freePort()}/oauth/callback`;
  peer = await startOidcProvider({ redirectUris: [REDIRECT, CLI_REDIRECT], accessTokenTtl: 3600 });
  dir = mkdtempSync(join(tmpdir(), 'tw-nort-'));
});
afterEach(async () => {
  for (const w of opened.splice(0)) await w.close();
});
afterAll(async () => {
  await peer?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('an authorization without a refresh token', () => {
  it('is reported at once: completion answer, event and status, with the fix', async () => {
    const { w, done } = await authorizeWith(['openid', 'api:read'], 'no-rt.db');
    const row = await partsOf(w).store.getConnection('sandbox');
    expect(row?.refreshToken).toBeNull();
    expect(row?.accessToken).toBeTruthy();

    // The completion answer (what the paste, the callback page and the CLI say).
    expect(done.warning).toMatchObject({ id: 'no_refresh_token', confidence: 'known' });
    expect(done.warning?.summary).toMatch(
      /issued no refresh token: this connection dies when its access token expires/,
    );
    expect(done.warning?.fix).toMatch(/request the offline_access scope/);
    expect(acceptedReply(done)).toMatch(
      /^Accepted: sandbox works now \(account alice\), but the provider issued no refresh token: .* Fix: .*offline_access/,
    );

    // The event, recorded with the authorization.
    const events = await partsOf(w).store.listEvents({ connection: 'sandbox', limit: 50 });
    const warned = events.find((e) => e.type === 'no_refresh_token');
    expect(warned?.message).toMatch(/issued no refresh token.*Fix: .*offline_access/);

    // The status: working, but with the cause, and the death at the access token's expiry.
    const [s] = await w.status();
    expect(s?.state).toBe('healthy');
    expect(s?.cause?.id).toBe('no_refresh_token');
    expect(s?.refreshExpiresAt).not.toBeNull();
    expect(s?.refreshExpiresAt).toBe(s?.accessExpiresAt);
  });

  it('`tokenwarden status` and `tokenwarden complete` say it too, never "no known limit"', async () => {
    const ws = makeWorkspace({ connections: { sandbox: sandboxConnection(peer, REDIRECT, { scopes: ['openid'] }) } });
    try {
      const w = await openWarden({ configPath: ws.configPath });
      opened.push(w);
      const flow = await partsOf(w).flows.open('sandbox');
      const finalUrl = await peer.approveAuthorization(flow.url);
      const done = await ws.cli(['complete', finalUrl]);
      expect(done.code).toBe(0);
      expect(done.stdout).toMatch(/^Authorized "sandbox"/);
      expect(done.stderr).toMatch(/^Warning: The provider issued no refresh token: .* Fix: .*offline_access/);
      const status = await ws.cli(['status']);
      expect(status.code).toBe(0);
      expect(status.stdout).toMatch(/sandbox .*healthy/);
      expect(status.stdout).toMatch(/issued no refresh token: this connection dies when its access token expires/);
      expect(status.stdout).not.toMatch(/no known limit/);
    } finally {
      ws.cleanup();
    }
  });

  it('`tokenwarden connect` says it when the paste completes the link it waits on', async () => {
    const ws = makeWorkspace({
      connections: { sandbox: sandboxConnection(peer, CLI_REDIRECT, { scopes: ['openid'] }) },
    });
    try {
      const child = ws.spawnCli(['connect', 'sandbox', '--json']);
      let stderr = '';
      child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      const out = lines(child.stdout!);
      const started = JSON.parse((await out.next()).value as string) as { event: string; url: string };
      expect(started.event).toBe('flow_started');
      child.stdin?.write(`${await peer.approveAuthorization(started.url)}\n`);
      const done = JSON.parse((await out.next()).value as string) as Record<string, unknown>;
      expect(done).toMatchObject({ event: 'authorized', connection: 'sandbox', via: 'paste' });
      expect(done['warning']).toMatchObject({ id: 'no_refresh_token', confidence: 'known' });
      expect(await new Promise((r) => child.on('close', r))).toBe(0);
      expect(stderr).toMatch(/Warning: The provider issued no refresh token: .* Fix: .*offline_access/);
    } finally {
      ws.cleanup();
    }
  });

  it('with offline_access the same provider issues one, and nothing is reported', async () => {
    const { w, done } = await authorizeWith(['openid', 'offline_access', 'api:read'], 'with-rt.db');
    expect((await partsOf(w).store.getConnection('sandbox'))?.refreshToken).toBeTruthy();
    expect(done.warning).toBeUndefined();
    expect(acceptedReply(done)).toBe('Accepted: sandbox is healthy again (account alice).');
    const [s] = await w.status();
    expect(s?.cause).toBeNull();
    expect((await partsOf(w).store.listEvents({ connection: 'sandbox', limit: 50 })).map((e) => e.type)).not.toContain(
      'no_refresh_token',
    );
  });
});
