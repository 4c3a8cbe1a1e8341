/**
 * `tokenwarden migrate`: SQLite → PostgreSQL → SQLite moves every connection, flow, event and
 * outbox message; sealed values are copied byte for byte (never re-sealed or opened); a
 * non-empty target is refused without --force; a wrong key fails before anything is copied.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';

import { runMigrate } from '../../src/cli/migrate.js';
import { main } from '../../src/cli/main.js';
import { KeyError, UsageError } from '../../src/core/errors.js';
import { generateKey } from '../../src/store/key.js';
import { openStore } from '../../src/store/open-store.js';
import { transferStore } from '../../src/store/postgres/transfer.js';
import type { Store } from '../../src/store/types.js';
import { startPostgres, type PostgresPeer } from '../peers/postgres.js';

const T = Date.UTC(2026, 0, 1);
let peer: PostgresPeer;
const dir = mkdtempSync(join(tmpdir(), 'tw-migrate-'));
const key = generateKey();
const storeOpts = { key, keySpec: 'env:TW_MIGRATE_KEY', baseDir: dir };

beforeAll(async () => {
  peer = await startPostgres();
});
afterAll(async () => {
  await peer?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function populate(store: Store): Promise<void> {
  for (const name of ['gmail', 'github', 'ms365']) {
    await store.ensureConnection(name, T);
    await store.updateConnection(
      name,
      {
        state: 'healthy',
        accessToken: `at-${name}`,
        refreshToken: `rt-${name}`,
        idToken: name === 'gmail' ? 'idt' : null,
        accessExpiresAt: T + 3_600_000,
        account: `${name}@example.com`,
        cause: null,
      },
      { now: T + 1 },
    );
  }
  await store.updateConnection(
    'ms365',
    {
      state: 'reauth_required',
      cause: { id: 'revoked', summary: 'Revoked.', fix: 'Authorize again.' },
      lifetime: { deathAges: [36_000_000, 37_000_000], lifetimeMs: 36_000_000, cause: null, learnedAt: T + 2 },
    },
    { now: T + 2 },
  );
  await store.acquireRefreshLease('github', 'old-node', 60_000, T + 3);
  const flow = (id: string, state: string | null, kind: 'auth_code' | 'device_code' = 'auth_code') => ({
    id,
    connection: 'ms365',
    kind,
    state,
    codeVerifier: kind === 'auth_code' ? `verifier-${id}` : null,
    deviceCode: kind === 'device_code' ? `dc-${id}` : null,
    nonce: null,
    userCode: kind === 'device_code' ? 'ABCD-EFGH' : null,
    url: `https://login.example/${id}`,
    redirectUri: null,
    interval: kind === 'device_code' ? 5 : null,
    reason: 'revoked',
    askedVia: ['telegram'],
    createdAt: T + 10,
    expiresAt: T + 600_000,
  });
  await store.createFlow(flow('f-done', 'st-1'));
  await store.finishFlow('f-done', 'completed', T + 20, 'completed via paste');
  await store.createFlow(flow('f-open', 'st-2'));
  await store.createFlow(flow('f-device', null, 'device_code'));
  for (let i = 0; i < 130; i++)
    await store.appendEvent({ type: 'refreshed', connection: 'gmail', message: `refresh ${i}`, data: { i } }, T + i);
  for (let i = 0; i < 3; i++) {
    await store.enqueueMessage(
      {
        id: `m${i}`,
        mailbox: 'agent',
        idempotencyKey: `k${i}`,
        messageId: `<m${i}@tw>`,
        payload: `{"body":"secret mail ${i}"}`,
        createdAt: T + i,
      },
      T + i,
    );
  }
  await store.claimMessages({ owner: 'old-node', now: T + 100, leaseMs: 60_000, limit: 1 });
  await store.updateMessage('m2', { status: 'sent', sentAt: T + 200 }, {});
}

/** Everything a store holds, in comparable form (leases dropped: they do not migrate). */
async function snapshot(store: Store): Promise<unknown> {
  return {
    connections: (await store.listConnections()).map((c) => ({ ...c, leaseOwner: null, leaseUntil: null })),
    flows: await store.listFlows({ limit: 1000 }),
    openFlows: (await store.listOpenFlows()).map((f) => f.id),
    events: await store.listEvents({ limit: 1000 }),
    outbox: (await store.listMessages({ limit: 1000 })).map((m) => ({ ...m, leaseOwner: null, leaseUntil: null })),
    stats: await store.outboxStats(),
  };
}

function rawSqliteSecrets(file: string): string[] {
  const db = new Database(file, { readonly: true });
  const rows = db.prepare(`SELECT access_token, refresh_token FROM connections ORDER BY name`).all() as Array<
    Record<string, string>
  >;
  const payloads = db.prepare(`SELECT payload FROM outbox ORDER BY id`).all() as Array<Record<string, string>>;
  db.close();
  return [
    ...rows.flatMap((r) => [r['access_token'], r['refresh_token']]),
    ...payloads.map((p) => p['payload']),
  ] as string[];
}

async function rawPostgresSecrets(url: string): Promise<string[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  const rows = (
    await c.query<Record<string, string>>(`SELECT access_token, refresh_token FROM connections ORDER BY name`)
  ).rows;
  const payloads = (await c.query<Record<string, string>>(`SELECT payload FROM outbox ORDER BY id`)).rows;
  await c.end();
  return [
    ...rows.flatMap((r) => [r['access_token'], r['refresh_token']]),
    ...payloads.map((p) => p['payload']),
  ] as string[];
}

describe('tokenwarden migrate', () => {
  it('moves everything SQLite → PostgreSQL → SQLite with sealed values copied unchanged', async () => {
    const source = await openStore('sqlite:a.db', storeOpts);
    await populate(source);
    const before = await snapshot(source);
    await source.close();
    const pgUrl = await peer.createDatabase('migrate');

    const counts = await transferStore({ from: 'sqlite:a.db', to: pgUrl, ...storeOpts });
    expect(counts).toEqual({ connections: 3, flows: 3, events: 130, outbox: 3 });
    expect(await rawPostgresSecrets(pgUrl)).toEqual(rawSqliteSecrets(join(dir, 'a.db')));

    const onPg = await openStore(pgUrl, storeOpts);
    expect(await snapshot(onPg)).toEqual(before);
    // Leases of the old deployment do not come along; new events continue after the old ids.
    expect((await onPg.getConnection('github'))?.leaseOwner).toBeNull();
    expect((await onPg.appendEvent({ type: 'refreshed', connection: null, message: 'after', data: null }, T)).id).toBe(
      131,
    );
    expect(await onPg.claimMessages({ owner: 'new-node', now: T + 101, leaseMs: 1_000, limit: 10 })).toHaveLength(2);
    await onPg.close();

    // And back, into a fresh SQLite file.
    const back = await transferStore({ from: pgUrl, to: 'sqlite:b.db', ...storeOpts });
    expect(back).toEqual({ connections: 3, flows: 3, events: 131, outbox: 3 });
    expect(rawSqliteSecrets(join(dir, 'b.db'))).toEqual(await rawPostgresSecrets(pgUrl));
    const onSqlite = await openStore('sqlite:b.db', storeOpts);
    const s = (await snapshot(onSqlite)) as { connections: unknown; flows: unknown; events: unknown[] };
    expect(s.connections).toEqual((before as { connections: unknown }).connections);
    expect(s.flows).toEqual((before as { flows: unknown }).flows);
    expect(s.events).toHaveLength(131);
    await onSqlite.close();
  });

  it('refuses a non-empty target without --force, replaces it with --force', async () => {
    const pgUrl = await peer.createDatabase('migrate_force');
    const target = await openStore(pgUrl, storeOpts);
    await target.ensureConnection('precious', T);
    await target.close();
    const src = await openStore('sqlite:c.db', storeOpts);
    await src.ensureConnection('moved', T);
    await src.close();

    const err = await transferStore({ from: 'sqlite:c.db', to: pgUrl, ...storeOpts }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(/not empty \(1 connections\); pass --force/);
    const untouched = await openStore(pgUrl, storeOpts);
    expect((await untouched.listConnections()).map((c) => c.name)).toEqual(['precious']);
    await untouched.close();

    await transferStore({ from: 'sqlite:c.db', to: pgUrl, ...storeOpts, force: true });
    const replaced = await openStore(pgUrl, storeOpts);
    expect((await replaced.listConnections()).map((c) => c.name)).toEqual(['moved']);
    await replaced.close();
  });

  it('fails with KeyError before copying anything when the key does not open the source', async () => {
    const src = await openStore('sqlite:d.db', storeOpts);
    await src.ensureConnection('x', T);
    await src.close();
    const pgUrl = await peer.createDatabase('migrate_key');
    const err = await transferStore({
      from: 'sqlite:d.db',
      to: pgUrl,
      key: generateKey(),
      keySpec: 'env:OTHER',
      baseDir: dir,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KeyError);
    const c = new pg.Client({ connectionString: pgUrl });
    await c.connect();
    expect((await c.query(`SELECT to_regclass('connections') AS t`)).rows[0].t).toBeNull();
    await c.end();
  });

  it('reads every sealed value back in the target and names the first that does not open', async () => {
    const src = await openStore('sqlite:readback.db', storeOpts);
    for (const name of ['a', 'b']) {
      await src.ensureConnection(name, T);
      await src.updateConnection(name, { refreshToken: `rt-${name}` }, { now: T });
    }
    await src.enqueueMessage(
      { id: 'm1', mailbox: 'ops', idempotencyKey: 'k1', messageId: '<m1@x>', payload: 'body', createdAt: T },
      T,
    );
    await src.close();
    // A sealed value moved to another row (its associated data names row "a") is copied as it is.
    const raw = new Database(join(dir, 'readback.db'));
    const moved = raw.prepare(`SELECT refresh_token FROM connections WHERE name = 'a'`).get() as {
      refresh_token: string;
    };
    raw.prepare(`UPDATE connections SET refresh_token = ? WHERE name = 'b'`).run(moved.refresh_token);
    raw.close();
    const pgUrl = await peer.createDatabase('migrate_readback');
    const err = await transferStore({ from: 'sqlite:readback.db', to: pgUrl, ...storeOpts }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KeyError);
    expect((err as Error).message).toContain('connections:b:refresh_token');
  });

  it('runs as `tokenwarden migrate` with the key from the config', async () => {
    process.env['TW_MIGRATE_KEY'] = key.toString('base64');
    const configPath = join(dir, 'tokenwarden.yaml');
    writeFileSync(configPath, stringify({ store: 'sqlite:e.db', key: 'env:TW_MIGRATE_KEY', connections: {} }));
    const src = await openStore('sqlite:e.db', storeOpts);
    await src.ensureConnection('cli', T);
    await src.close();
    const pgUrl = await peer.createDatabase('migrate_cli');
    const out: string[] = [];
    const io = { out: (s: string) => void out.push(s), err: (s: string) => void out.push(s), now: () => T };
    expect(await runMigrate({ config: configPath, from: 'sqlite:e.db', to: pgUrl, json: true }, io)).toBe(0);
    expect(JSON.parse(out.join(''))).toEqual({ migrated: { connections: 1, flows: 0, events: 0, outbox: 0 } });
    // Registered in the CLI: a second run meets a non-empty target → usage error (exit 2).
    expect(await main(['--config', configPath, 'migrate', '--from', 'sqlite:e.db', '--to', pgUrl])).toBe(2);
  });
});
