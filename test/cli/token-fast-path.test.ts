/**
 * `tokenwarden token` serves a cached token without loading the validator, the argument parser
 * or the OAuth stack — and never at the price of a stale config: an edited file, a changed or
 * unset `${VAR}`, or a grant that needs a human all go through the full path.
 * Which path ran is read from the modules the process resolved (a module resolve hook).
 */
import { chmodSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openWarden, partsOf } from '../../src/warden.js';
import { loaded, moduleLogRunner, type LoggedRun, type ModuleLogRunner } from '../helpers/module-log.js';
import { makeWorkspace, type Workspace } from '../helpers/workspace.js';

const connection = {
  provider: 'google',
  client_id: 'cid',
  client_secret: '${TW_FAST_SECRET}',
  scopes: ['https://www.googleapis.com/auth/gmail.send'],
};

let ws: Workspace;
let runner: ModuleLogRunner;

function token(env: Record<string, string | undefined>, args = ['token', 'gmail']): Promise<LoggedRun> {
  return runner.run(['--config', ws.configPath, ...args], { env: { TW_FAST_SECRET: undefined, ...env } });
}

async function seed(state?: 'reauth_required'): Promise<void> {
  const w = await openWarden({
    configPath: ws.configPath,
    env: { ...process.env, TW_FAST_SECRET: 'client-secret-one' },
  });
  try {
    await partsOf(w).keeper.storeGrant('gmail', {
      accessToken: 'ya29.fast-path-token',
      tokenType: 'Bearer',
      refreshToken: '1//refresh',
      expiresAt: Date.now() + 3_600_000,
    });
    if (state) await partsOf(w).store.updateConnection('gmail', { state }, { now: Date.now() });
  } finally {
    await w.close();
  }
}

beforeAll(async () => {
  ws = makeWorkspace({ connections: { gmail: connection } });
  runner = moduleLogRunner(ws.dir);
  await seed();
});

afterAll(() => ws.cleanup());

describe('token fast path', () => {
  it('serves the token from the full path first, then without the validator or the argument parser', async () => {
    const first = await token({ TW_FAST_SECRET: 'client-secret-one' });
    expect(first.stderr).toBe('');
    expect(first.stdout).toBe('ya29.fast-path-token\n');
    expect(loaded(first, 'zod')).toBe(true);

    const second = await token({ TW_FAST_SECRET: 'client-secret-one' });
    expect(second.code).toBe(0);
    expect(second.stdout).toBe('ya29.fast-path-token\n');
    expect(loaded(second, 'zod')).toBe(false);
    expect(loaded(second, 'commander')).toBe(false);
    expect(loaded(second, 'openid-client')).toBe(false);
    // The fingerprint beside the store holds no secret.
    const fp = readFileSync(`${ws.dbPath}-config-ok`, 'utf8');
    expect(fp).not.toContain('client-secret-one');
    expect(fp).not.toContain('ya29');
  });

  it('never misses an edited config file', async () => {
    await token({ TW_FAST_SECRET: 'client-secret-one' });
    // Still names the connection, but no longer a valid config: only validation can tell.
    ws.writeConfig({ connections: { gmail: { ...connection, scope: 'typo' } } });
    const r = await token({ TW_FAST_SECRET: 'client-secret-one' });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/unknown key "scope"/);
    ws.writeConfig({ connections: { other: connection } });
    const gone = await token({ TW_FAST_SECRET: 'client-secret-one' });
    expect(gone.code).toBe(2);
    expect(gone.stderr).toMatch(/No connection named "gmail"/);
    ws.writeConfig({ connections: { gmail: connection } });
    expect((await token({ TW_FAST_SECRET: 'client-secret-one' })).stdout).toBe('ya29.fast-path-token\n');
  });

  it('never misses an environment variable the config uses', async () => {
    expect((await token({ TW_FAST_SECRET: 'client-secret-one' })).code).toBe(0);
    const unset = await token({});
    expect(unset.code).toBe(2);
    expect(unset.stdout).toBe('');
    expect(unset.stderr).toMatch(/TW_FAST_SECRET is not set/);

    const changed = await token({ TW_FAST_SECRET: 'client-secret-two' });
    expect(changed.stdout).toBe('ya29.fast-path-token\n');
    expect(loaded(changed, 'zod')).toBe(true); // revalidated, then recorded
    const again = await token({ TW_FAST_SECRET: 'client-secret-two' });
    expect(loaded(again, 'zod')).toBe(false);
  });

  it('leaves a grant that needs a human to the full path (exit 3 with the diagnosis)', async () => {
    expect((await token({ TW_FAST_SECRET: 'client-secret-one' })).code).toBe(0);
    await seed('reauth_required');
    const r = await token({ TW_FAST_SECRET: 'client-secret-one' });
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    await seed();
  });

  it('never serves a stored token for a connection that became a static secret', async () => {
    expect((await token({ TW_FAST_SECRET: 'client-secret-one' })).code).toBe(0);
    ws.writeConfig({ connections: { gmail: { provider: 'oauth2', kind: 'static', secret: 'static-secret' } } });
    expect((await token({})).stdout).toBe('static-secret\n');
    expect((await token({})).stdout).toBe('static-secret\n');
    ws.writeConfig({ connections: { gmail: connection } });
  });

  it('gives the same file-mode warnings as the full path', async () => {
    expect((await token({ TW_FAST_SECRET: 'client-secret-one' })).code).toBe(0);
    chmodSync(ws.dbPath, 0o644);
    try {
      const r = await token({ TW_FAST_SECRET: 'client-secret-one' });
      expect(loaded(r, 'zod')).toBe(false);
      expect(r.stdout).toBe('ya29.fast-path-token\n');
      expect(r.stderr).toMatch(/warning: store file .*state\.db is accessible by group or others/);
    } finally {
      chmodSync(ws.dbPath, 0o600);
    }
  });

  it('takes the full parser for anything but the plain form', async () => {
    const help = await token({ TW_FAST_SECRET: 'client-secret-one' }, ['token', '--help']);
    expect(help.stdout).toMatch(/access token/);
    expect(loaded(help, 'commander')).toBe(true);
  });
});
