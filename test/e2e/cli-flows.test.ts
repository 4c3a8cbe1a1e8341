/**
 * The CLI end to end against a real oidc-provider with refresh-token rotation —
 * authorization code completed by paste in another process and by loopback callback, device
 * flow, token, revoked grant → exit 3 with a diagnosed cause, several processes at one expiry
 * → exactly one refresh, bad input changes nothing, no plaintext token on disk.
 */
import { spawn } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOidcProvider, type OidcPeer } from '../peers/oidc-provider.js';
import { CLI, lines, makeWorkspace, type Workspace } from '../helpers/workspace.js';
import { openWarden, partsOf } from '../../src/warden.js';
import { sandboxConnection } from '../helpers/sandbox.js';

async function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

let peer: OidcPeer;
let ws: Workspace;
let redirectUri: string;

function sandbox(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    connections: {
      sandbox: sandboxConnection(peer, redirectUri, { scopes: ['openid', 'offline_access', 'api:read'], ...extra }),
    },
  };
}

/** Make the stored access token look expired (as if its lifetime had passed) without sleeping. */
async function expireStoredToken(): Promise<void> {
  const w = await openWarden({ configPath: ws.configPath });
  try {
    await partsOf(w).store.updateConnection('sandbox', { accessExpiresAt: Date.now() - 1_000 }, { now: Date.now() });
  } finally {
    await w.close();
  }
}

async function connectByPaste(): Promise<void> {
  const started = await ws.cli(['connect', 'sandbox', '--no-wait', '--json']);
  expect(started.code).toBe(0);
  const ev = JSON.parse(started.stdout.split('\n')[0] ?? '') as { event: string; url: string; expires_at: string };
  expect(ev.event).toBe('flow_started');
  const finalUrl = await peer.approveAuthorization(ev.url);
  const done = await ws.cli(['complete', finalUrl, '--json']);
  expect(done.stderr).toBe('');
  expect(done.code).toBe(0);
  expect(JSON.parse(done.stdout)).toMatchObject({ event: 'authorized', connection: 'sandbox' });
}

beforeAll(async () => {
  redirectUri = `http://127.0.0.1:${await freePort()}/oauth/callback`;
  peer = await startOidcProvider({ redirectUris: [redirectUri], accessTokenTtl: 60, refreshTokenTtl: 600 });
  ws = makeWorkspace({});
  ws.writeConfig(sandbox());
});

afterAll(async () => {
  await peer?.stop();
  ws?.cleanup();
});

describe('tokenwarden CLI against oidc-provider', () => {
  it('completes an authorization-code flow by paste in another process; token works', async () => {
    const before = await ws.cli(['token', 'sandbox']);
    expect(before.code).toBe(3);
    expect(before.stderr).toMatch(/never been authorized.*tokenwarden connect sandbox/s);

    await connectByPaste();
    const tok = await ws.cli(['token', 'sandbox']);
    expect(tok.code).toBe(0);
    const token = tok.stdout.trim();
    expect(tok.stdout).toBe(`${token}\n`);
    expect((await peer.introspect(token)).active).toBe(true);

    const status = await ws.cli(['status', '--json']);
    const s = JSON.parse(status.stdout) as { connections: Array<{ name: string; state: string }> };
    expect(s.connections[0]).toMatchObject({ name: 'sandbox', state: 'healthy' });
  });

  it('rejects a garbage paste, a forged state and a second use, changing nothing', async () => {
    const started = await ws.cli(['connect', 'sandbox', '--no-wait', '--json']);
    const { url } = JSON.parse(started.stdout) as { url: string };
    const garbage = await ws.cli(['complete', 'hello there, here is my answer']);
    expect(garbage.code).toBe(2);
    expect(garbage.stderr).toMatch(/Not accepted/);
    const forged = await ws.cli(['complete', `${redirectUri}?code=abc123&state=forged-state-value`]);
    expect(forged.code).toBe(2);
    expect(forged.stderr).toMatch(/does not match any flow/);
    // The real flow is still open and completes.
    const finalUrl = await peer.approveAuthorization(url);
    expect((await ws.cli(['complete', finalUrl])).code).toBe(0);
    const again = await ws.cli(['complete', finalUrl]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already used/);
  });

  it('takes the redirect URL on stdin (`complete -`, or no argument with piped input)', async () => {
    const flowUrl = async (): Promise<string> => {
      const started = await ws.cli(['connect', 'sandbox', '--no-wait', '--json']);
      return peer.approveAuthorization((JSON.parse(started.stdout) as { url: string }).url);
    };
    const first = await flowUrl();
    const dash = await ws.cli(['complete', '-', '--json'], { stdin: `${first}\n` });
    expect(dash.stderr).toBe('');
    expect(dash.code).toBe(0);
    expect(JSON.parse(dash.stdout)).toMatchObject({ event: 'authorized', connection: 'sandbox' });

    const second = await flowUrl();
    const piped = await ws.cli(['complete'], { stdin: second });
    expect(piped.code).toBe(0);
    expect(piped.stdout).toMatch(/^Authorized "sandbox"/);

    const empty = await ws.cli(['complete', '-'], { stdin: '' });
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/nothing on stdin/);
    const huge = await ws.cli(['complete', '-'], { stdin: 'x'.repeat(100 * 1024) });
    expect(huge.code).toBe(2);
    expect(huge.stderr).toMatch(/more than 65536 bytes on stdin/);

    // No argument on a terminal: a usage error saying both ways, not a wait for input.
    const tty = await new Promise<{ code: number | null; out: string }>((resolve, reject) => {
      const cmd = [process.execPath, CLI, '--config', ws.configPath, 'complete'].map((a) => `'${a}'`).join(' ');
      const child = spawn('script', ['-qec', cmd, '/dev/null'], { cwd: ws.dir, stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, out }));
    });
    expect(tty.code).toBe(2);
    expect(tty.out).toMatch(/pipe it on stdin \(`tokenwarden complete -`/);
  });

  it('captures the loopback callback while waiting', async () => {
    const child = ws.spawnCli(['connect', 'sandbox', '--json']);
    const out = lines(child.stdout!);
    const first = JSON.parse((await out.next()).value as string) as { url: string };
    const finalUrl = await peer.approveAuthorization(first.url);
    // Another web page sends the browser to the listener first: refused, the wait goes on.
    const forged = await fetch(`${redirectUri}?error=access_denied&error_description=nope&state=forged`);
    expect(forged.status).toBe(400);
    expect(await forged.text()).toMatch(/does not belong to the authorization being waited for/);
    // The human's browser follows the redirect to the loopback listener.
    const res = await fetch(finalUrl);
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/Authorized/);
    const second = JSON.parse((await out.next()).value as string) as { event: string };
    expect(second.event).toBe('authorized');
    const code = await new Promise((r) => child.on('close', r));
    expect(code).toBe(0);
  });

  it('runs the device flow with no paste', async () => {
    const child = ws.spawnCli(['connect', 'sandbox', '--flow', 'device', '--json']);
    const out = lines(child.stdout!);
    const first = JSON.parse((await out.next()).value as string) as { kind: string; url: string; user_code: string };
    expect(first.kind).toBe('device_code');
    expect(first.user_code).toBeTruthy();
    await peer.approveDevice(first.url);
    const second = JSON.parse((await out.next()).value as string) as { event: string };
    expect(second.event).toBe('authorized');
    expect(await new Promise((r) => child.on('close', r))).toBe(0);
    expect((await ws.cli(['token', 'sandbox'])).code).toBe(0);
  });

  it('several processes at the same expiry: all succeed with exactly one refresh, no invalid_grant', async () => {
    await connectByPaste();
    for (let round = 0; round < 3; round++) {
      await expireStoredToken();
      const before = peer.tokenRequests('refresh_token');
      const results = await Promise.all(Array.from({ length: 6 }, () => ws.cli(['token', 'sandbox'])));
      for (const r of results) expect(r.stderr).toBe('');
      expect(results.map((r) => r.code)).toEqual(Array(6).fill(0));
      expect(new Set(results.map((r) => r.stdout)).size).toBe(1);
      expect(peer.tokenRequests('refresh_token') - before).toBe(1);
    }
    expect(peer.tokenErrors().filter((e) => e.error === 'invalid_grant' && e.grantType === 'refresh_token')).toEqual(
      [],
    );
  });

  it('a revoked grant gives exit 3 and a diagnosed cause', async () => {
    await connectByPaste();
    await peer.revokeGrantsFor();
    await expireStoredToken();
    const r = await ws.cli(['token', 'sandbox']);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/needs a human to re-authorize/);
    expect(r.stderr).toMatch(/Fix: /);
    const status = JSON.parse((await ws.cli(['status', '--json'])).stdout) as {
      connections: Array<{ state: string; cause: { id: string } }>;
    };
    expect(status.connections[0]?.state).toBe('reauth_required');
    expect(status.connections[0]?.cause.id).toBeTruthy();
  });

  it('malformed config and a wrong key give clear errors (exit 2)', async () => {
    const bad = makeWorkspace({ connections: { x: { provider: 'oidc', client_id: 'a' } } });
    try {
      const r = await bad.cli(['status']);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/connections\.x\.issuer: required for provider oidc/);
    } finally {
      bad.cleanup();
    }
    const r = await ws.cli(['status'], { env: {} });
    expect(r.code).toBe(0);
    const other = makeWorkspace(sandbox());
    try {
      // Same store, another key: refused at open, nothing changed.
      other.writeConfig({ ...sandbox(), store: `sqlite:${ws.dbPath}` });
      const before = readFileSync(ws.dbPath);
      const wrong = await other.cli(['token', 'sandbox']);
      expect(wrong.code).toBe(2);
      expect(wrong.stderr).toMatch(/key/i);
      expect(readFileSync(ws.dbPath).equals(before)).toBe(true);
    } finally {
      other.cleanup();
    }
  });

  it('never writes a plaintext token to the SQLite files', async () => {
    await connectByPaste();
    const token = (await ws.cli(['token', 'sandbox'])).stdout.trim();
    expect(token.length).toBeGreaterThan(10);
    for (const f of [ws.dbPath, `${ws.dbPath}-wal`]) {
      if (!existsSync(f)) continue;
      expect(readFileSync(f).includes(Buffer.from(token))).toBe(false);
    }
  });
});
