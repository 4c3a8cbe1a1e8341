/**
 * `tokenwarden rotate-key`: every sealed value (tokens, PKCE verifier, queued mail, key check) is
 * re-sealed under a new key in one transaction; the old key file is kept as a backup and no
 * longer opens the store; an interrupted rotation (crash after re-sealing, before the key swap)
 * is finished by running it again. The same on PostgreSQL (a throwaway cluster): the store
 * re-seals in place, no detour through SQLite.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { Io } from '../../src/cli/output.js';
import { DAEMON_LEASE_KEY, DAEMON_LEASE_MS } from '../../src/daemon/lease.js';
import { resealSqlite, runRotateKey } from '../../src/cli/rotate-key.js';
import { KeyError, UsageError } from '../../src/core/errors.js';
import { decodeKey, writeKeyFile } from '../../src/store/key.js';
import { openStore } from '../../src/store/open-store.js';
import { createSealer } from '../../src/store/seal.js';
import { openWarden, partsOf } from '../../src/warden.js';
import { startPostgres, type PostgresPeer } from '../peers/postgres.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function workspace(
  store = 'sqlite:state.db',
): Promise<{ dir: string; configPath: string; keyPath: string; flowId: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'tw-rotate-'));
  dirs.push(dir);
  const keyPath = join(dir, 'key');
  writeKeyFile(keyPath);
  const configPath = join(dir, 'tokenwarden.yaml');
  writeFileSync(
    configPath,
    stringify({
      store,
      key: 'file:key',
      connections: {
        api: {
          provider: 'oauth2',
          client_id: 'c',
          auth_url: 'https://id.example.com/auth',
          token_url: 'https://id.example.com/token',
          redirect_uri: 'http://127.0.0.1:7465/oauth/callback',
          scopes: ['api'],
        },
      },
    }),
  );
  const w = await openWarden({ configPath });
  await partsOf(w).keeper.storeGrant('api', {
    accessToken: 'AT-rotate-secret-1',
    refreshToken: 'RT-rotate-secret-1',
    tokenType: 'Bearer',
    expiresAt: Date.now() + 3_600_000,
  });
  const flow = await partsOf(w).flows.open('api', { reason: 'manual' });
  await partsOf(w).store.enqueueMessage(
    {
      id: 'm1',
      mailbox: 'agent',
      idempotencyKey: 'k1',
      messageId: '<m1@example.com>',
      payload: 'MAIL-rotate-secret',
      createdAt: Date.now(),
    },
    Date.now(),
  );
  await w.close();
  return { dir, configPath, keyPath, flowId: flow.id };
}

const io = (): { out: string[]; io: Io } => {
  const out: string[] = [];
  return { out, io: { out: (s) => void out.push(s), err: (s) => void out.push(s), now: () => Date.now() } };
};

describe('rotate-key', () => {
  it('re-seals every secret under a new key, keeps the old key as a backup, and the old key no longer opens the store', async () => {
    const ws = await workspace();
    const oldKeyText = readFileSync(ws.keyPath, 'utf8');
    const verifierBefore = (
      await (
        await openStore('sqlite:state.db', { key: decodeKey(oldKeyText, 'old'), keySpec: 'file:key', baseDir: ws.dir })
      ).getFlow(ws.flowId)
    )?.codeVerifier;
    const o = io();
    expect(await runRotateKey({ config: ws.configPath, json: true }, o.io)).toBe(0);
    const result = JSON.parse(o.out.join('')) as { rotated: boolean; values: number; backup: string };
    expect(result.rotated).toBe(true);
    expect(result.values).toBeGreaterThanOrEqual(5); // access, refresh, verifier, mail, key check (+ nonce if any)

    const newKeyText = readFileSync(ws.keyPath, 'utf8');
    expect(newKeyText).not.toBe(oldKeyText);
    expect(statSync(ws.keyPath).mode & 0o777).toBe(0o600);
    expect(readFileSync(result.backup, 'utf8')).toBe(oldKeyText);
    expect(readdirSync(ws.dir).filter((f) => f.endsWith('.new'))).toEqual([]);

    const store = await openStore('sqlite:state.db', {
      key: decodeKey(newKeyText, 'new'),
      keySpec: 'file:key',
      baseDir: ws.dir,
    });
    expect(await store.getConnection('api')).toMatchObject({
      accessToken: 'AT-rotate-secret-1',
      refreshToken: 'RT-rotate-secret-1',
    });
    expect((await store.getFlow(ws.flowId))?.codeVerifier).toBe(verifierBefore);
    expect((await store.getMessage('m1'))?.payload).toBe('MAIL-rotate-secret');
    await store.close();
    await expect(
      openStore('sqlite:state.db', { key: decodeKey(oldKeyText, 'old'), keySpec: 'file:key', baseDir: ws.dir }),
    ).rejects.toBeInstanceOf(KeyError);
    // The warden itself opens with the rotated key file.
    const w = await openWarden({ configPath: ws.configPath });
    expect(await w.accessToken('api')).toBe('AT-rotate-secret-1');
    await w.close();
  });

  it('finishes an interrupted rotation (re-sealed, crashed before the key swap)', async () => {
    const ws = await workspace();
    const oldKey = decodeKey(readFileSync(ws.keyPath, 'utf8'), 'old');
    const newKey = writeKeyFile(`${ws.keyPath}.new`);
    resealSqlite(join(ws.dir, 'state.db'), createSealer(oldKey), createSealer(newKey));
    await expect(openWarden({ configPath: ws.configPath })).rejects.toBeInstanceOf(KeyError);
    const o = io();
    expect(await runRotateKey({ config: ws.configPath }, o.io)).toBe(0);
    expect(o.out.join('')).toMatch(/interrupted rotation/);
    const w = await openWarden({ configPath: ws.configPath });
    expect(await w.accessToken('api')).toBe('AT-rotate-secret-1');
    await w.close();
  });

  it('a failed re-seal changes nothing (one transaction)', async () => {
    const ws = await workspace();
    const before = readFileSync(join(ws.dir, 'state.db'));
    const wrong = createSealer(Buffer.alloc(32, 7));
    expect(() => resealSqlite(join(ws.dir, 'state.db'), wrong, createSealer(Buffer.alloc(32, 8)))).toThrow(KeyError);
    const w = await openWarden({ configPath: ws.configPath });
    expect(await w.accessToken('api')).toBe('AT-rotate-secret-1');
    await w.close();
    expect(before.length).toBeGreaterThan(0);
  });
});

describe('rotate-key on PostgreSQL', () => {
  let peer: PostgresPeer;
  beforeAll(async () => {
    peer = await startPostgres();
  });
  afterAll(async () => {
    await peer?.stop();
  });

  const open = (url: string, keyText: string) =>
    openStore(url, { key: decodeKey(keyText, 'k'), keySpec: 'file:key', baseDir: '/' });

  it('re-seals in place: every sealed value opens with the new key, the old key no longer opens the store', async () => {
    const url = await peer.createDatabase('rotate');
    const ws = await workspace(url);
    const oldKeyText = readFileSync(ws.keyPath, 'utf8');
    const before = await open(url, oldKeyText);
    const flowBefore = await before.getFlow(ws.flowId);
    await before.close();
    expect(flowBefore?.codeVerifier).toEqual(expect.any(String));

    const o = io();
    expect(await runRotateKey({ config: ws.configPath, json: true }, o.io)).toBe(0);
    const result = JSON.parse(o.out.join('')) as { rotated: boolean; values: number; backup: string };
    expect(result.rotated).toBe(true);
    // access, refresh, PKCE verifier, queued mail, key check (+ the flow's nonce when it has one)
    expect(result.values).toBe(5 + (flowBefore?.nonce ? 1 : 0));
    const newKeyText = readFileSync(ws.keyPath, 'utf8');
    expect(newKeyText).not.toBe(oldKeyText);
    expect(statSync(ws.keyPath).mode & 0o777).toBe(0o600);
    expect(readFileSync(result.backup, 'utf8')).toBe(oldKeyText);
    expect(readdirSync(ws.dir).filter((f) => f.endsWith('.new'))).toEqual([]);

    await expect(open(url, oldKeyText)).rejects.toBeInstanceOf(KeyError);
    const store = await open(url, newKeyText);
    try {
      expect(await store.getConnection('api')).toMatchObject({
        accessToken: 'AT-rotate-secret-1',
        refreshToken: 'RT-rotate-secret-1',
      });
      expect(await store.getFlow(ws.flowId)).toMatchObject({
        codeVerifier: flowBefore?.codeVerifier,
        nonce: flowBefore?.nonce,
        deviceCode: flowBefore?.deviceCode,
      });
      expect((await store.getMessage('m1'))?.payload).toBe('MAIL-rotate-secret');
    } finally {
      await store.close();
    }
    const w = await openWarden({ configPath: ws.configPath });
    expect(await w.accessToken('api')).toBe('AT-rotate-secret-1');
    await w.close();
  });

  it('refuses while a daemon holds the store, changing nothing', async () => {
    const url = await peer.createDatabase('rotate');
    const ws = await workspace(url);
    const keyText = readFileSync(ws.keyPath, 'utf8');
    const other = await open(url, keyText);
    await other.acquireLease(DAEMON_LEASE_KEY, 'node-b:4242', DAEMON_LEASE_MS, Date.now());
    await other.close();
    await expect(runRotateKey({ config: ws.configPath }, io().io)).rejects.toThrow(UsageError);
    await expect(runRotateKey({ config: ws.configPath }, io().io)).rejects.toThrow(/a daemon is running on this store/);
    expect(readFileSync(ws.keyPath, 'utf8')).toBe(keyText);
    expect(readdirSync(ws.dir).filter((f) => f.endsWith('.new') || f.includes('.bak-'))).toEqual([]);
    const w = await openWarden({ configPath: ws.configPath });
    expect(await w.accessToken('api')).toBe('AT-rotate-secret-1');
    await w.close();
  });

  it('finishes an interrupted rotation (re-sealed, crashed before the key swap)', async () => {
    const url = await peer.createDatabase('rotate');
    const ws = await workspace(url);
    const store = await open(url, readFileSync(ws.keyPath, 'utf8'));
    await store.reseal(createSealer(writeKeyFile(`${ws.keyPath}.new`)));
    await store.close();
    await expect(openWarden({ configPath: ws.configPath })).rejects.toBeInstanceOf(KeyError);
    const o = io();
    expect(await runRotateKey({ config: ws.configPath }, o.io)).toBe(0);
    expect(o.out.join('')).toMatch(/interrupted rotation/);
    const w = await openWarden({ configPath: ws.configPath });
    expect(await w.accessToken('api')).toBe('AT-rotate-secret-1');
    await w.close();
  });
});
