/**
 * The SQLite store: the shared contract on real files, plus what only a file can show —
 * no plaintext secret in the database or its WAL, wrong key and newer schema refused at open,
 * sealed values bound to their row and column, and mutual exclusion across real processes.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';

import { KeyError, StoreError } from '../../src/core/errors.js';
import {
  createSealer,
  generateKey,
  openStore,
  SCHEMA_VERSION,
  SqliteStore,
  type Store,
} from '../../src/store/index.js';
import { runStoreContract } from './contract.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'tw-sqlite-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let seq = 0;
const T = Date.UTC(2026, 0, 1);

/** A fresh directory and key; `open()` opens `sqlite:state.db` in it. */
function fixture(key = generateKey()): { dir: string; db: string; open: (k?: Buffer) => Promise<Store> } {
  const dir = join(root, `s${seq++}`);
  return {
    dir,
    db: join(dir, 'state.db'),
    open: (k = key) => openStore('sqlite:state.db', { key: k, keySpec: 'file:.tokenwarden/key', baseDir: dir }),
  };
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

function raw(path: string): Database.Database {
  return new Database(path);
}

/** What migration 3 (the change sequence) added, removed again: a store as schema 2 left it. */
const UNDO_CHANGE_SEQ = `
  DROP TRIGGER connections_change_on_insert; DROP TRIGGER connections_change_on_update;
  DROP TRIGGER connections_change_on_delete; DROP TABLE change_counter; DROP TABLE connection_deletions;
  DROP INDEX connections_by_change; ALTER TABLE connections DROP COLUMN change_seq;`;

function fileBytes(path: string): Buffer {
  return existsSync(path) ? readFileSync(path) : Buffer.alloc(0);
}

runStoreContract('sqlite file', async () => {
  const key = generateKey();
  const f = fixture(key);
  return {
    store: await f.open(),
    reopen: () => f.open(),
    key,
    openWith: (k) => f.open(k),
    cleanup: async () => rmSync(f.dir, { recursive: true }),
  };
});

runStoreContract('sqlite :memory:', async () => {
  const key = generateKey();
  return {
    store: await openStore(':memory:', { key, keySpec: 'env:K', baseDir: root }),
    key,
    cleanup: async () => {},
  };
});

describe('SQLite store on disk', () => {
  it('creates its directory 0700 and database 0600, and records the schema version', async () => {
    const f = fixture();
    const store = await f.open();
    await store.ensureConnection('gmail', T);
    if (process.platform !== 'win32') {
      expect(statSync(f.dir).mode & 0o777).toBe(0o700);
      expect(statSync(f.db).mode & 0o777).toBe(0o600);
      expect(statSync(`${f.db}-wal`).mode & 0o777).toBe(0o600);
    }
    await store.close();
    const db = raw(f.db);
    const versions = db.prepare('SELECT version FROM schema_migrations ORDER BY version').all() as {
      version: number;
    }[];
    expect(versions.at(-1)).toEqual({ version: SCHEMA_VERSION });
    expect(versions.map((v) => v.version)).toEqual(Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1));
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
  });

  it('never writes a plaintext secret to the database or its WAL', async () => {
    const f = fixture();
    const secrets = {
      access: 'ya29.PLAINTEXT-ACCESS-TOKEN-4f1c',
      refresh: '1//PLAINTEXT-REFRESH-TOKEN-9a2e',
      id: 'eyJ.PLAINTEXT-ID-TOKEN-77d0',
      verifier: 'PLAINTEXT-PKCE-VERIFIER-0b3d',
      device: 'PLAINTEXT-DEVICE-CODE-5e6f',
      nonce: 'PLAINTEXT-NONCE-c4a1',
      payload: 'Subject: PLAINTEXT-MAIL-BODY-18bb',
    };
    const visible = 'agent-VISIBLE-MARKER@example.com';
    const store = await f.open();
    await store.ensureConnection('gmail', T);
    await store.updateConnection(
      'gmail',
      { accessToken: secrets.access, refreshToken: secrets.refresh, idToken: secrets.id, account: visible },
      { now: T },
    );
    await store.createFlow({
      id: 'f1',
      connection: 'gmail',
      kind: 'auth_code',
      state: 'state-1',
      codeVerifier: secrets.verifier,
      deviceCode: secrets.device,
      nonce: secrets.nonce,
      userCode: null,
      url: 'https://auth.example/authorize',
      redirectUri: null,
      interval: null,
      reason: 'manual',
      askedVia: [],
      createdAt: T,
      expiresAt: T + 600_000,
    });
    await store.enqueueMessage(
      { id: 'm1', mailbox: 'agent', idempotencyKey: 'k1', messageId: '<m1@x>', payload: secrets.payload, createdAt: T },
      T,
    );

    const assertNoSecrets = (bytes: Buffer, where: string): void => {
      for (const [name, value] of Object.entries(secrets)) {
        expect(bytes.includes(Buffer.from(value)), `${name} in ${where}`).toBe(false);
      }
    };
    // Before checkpoint the rows live in the WAL; the non-secret marker proves we can see them.
    const wal = fileBytes(`${f.db}-wal`);
    const db0 = fileBytes(f.db);
    expect(Buffer.concat([db0, wal]).includes(Buffer.from(visible))).toBe(true);
    assertNoSecrets(wal, 'WAL');
    assertNoSecrets(db0, 'database');

    await store.close(); // checkpoints the WAL into the main file
    const db1 = fileBytes(f.db);
    expect(db1.includes(Buffer.from(visible))).toBe(true);
    assertNoSecrets(db1, 'checkpointed database');
    assertNoSecrets(fileBytes(`${f.db}-wal`), 'WAL after close');
  });

  it('refuses a wrong key at open, naming the key spec, and changes nothing', async () => {
    const key = generateKey();
    const f = fixture(key);
    const store = await f.open();
    await store.ensureConnection('gmail', T);
    await store.updateConnection('gmail', { refreshToken: 'rt-1' }, { now: T });
    await store.close();
    const before = readFileSync(f.db);

    const wrong = generateKey();
    const err = await rejection(f.open(wrong));
    expect(err).toBeInstanceOf(KeyError);
    expect(err.message).toContain(
      'the encryption key does not match the one this store was created with (key: file:.tokenwarden/key)',
    );
    for (const k of [key, wrong]) {
      expect(err.message).not.toContain(k.toString('base64').slice(0, 12));
      expect(err.message).not.toContain(k.toString('hex').slice(0, 12));
    }
    expect(readFileSync(f.db).equals(before)).toBe(true);

    const again = await f.open(key);
    expect((await again.getConnection('gmail'))?.refreshToken).toBe('rt-1');
    await again.close();
  });

  it('upgrades a store of schema 1 in place: rows kept, the learned lifetime column added', async () => {
    const f = fixture();
    const store = await f.open();
    await store.ensureConnection('gmail', T);
    await store.updateConnection('gmail', { refreshToken: 'rt-1', state: 'healthy' }, { now: T });
    await store.close();
    // Back to what a schema-1 tokenwarden wrote: no lifetime column, one migration recorded.
    const db = raw(f.db);
    db.exec(
      `${UNDO_CHANGE_SEQ} ALTER TABLE connections DROP COLUMN lifetime; DELETE FROM schema_migrations WHERE version > 1`,
    );
    db.close();
    const again = await f.open();
    expect(await again.getConnection('gmail')).toMatchObject({
      refreshToken: 'rt-1',
      state: 'healthy',
      lifetime: null,
    });
    const lifetime = { deathAges: [604_800_000], lifetimeMs: 604_800_000, cause: null, learnedAt: T };
    await again.updateConnection('gmail', { lifetime }, { now: T + 1 });
    await again.close();
    const third = await f.open();
    expect((await third.getConnection('gmail'))?.lifetime).toEqual(lifetime);
    await third.close();
  });

  it('refuses a database written by a newer tokenwarden', async () => {
    const f = fixture();
    await (await f.open()).close();
    const db = raw(f.db);
    db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
      SCHEMA_VERSION + 7,
      'future',
      T,
    );
    db.close();
    const err = await rejection(f.open());
    expect(err).toBeInstanceOf(StoreError);
    expect(err.message).toMatch(
      new RegExp(
        `schema version ${SCHEMA_VERSION + 7}, newer than this tokenwarden understands \\(${SCHEMA_VERSION}\\)`,
      ),
    );
  });

  it('a sealed value moved to another row or column does not open', async () => {
    const f = fixture();
    const store = await f.open();
    for (const name of ['a', 'b']) await store.ensureConnection(name, T);
    await store.updateConnection('a', { accessToken: 'at-a', refreshToken: 'rt-a' }, { now: T });
    for (const [id, key] of [
      ['m1', 'k1'],
      ['m2', 'k2'],
    ] as const) {
      await store.enqueueMessage(
        { id, mailbox: 'x', idempotencyKey: key, messageId: id, payload: id, createdAt: T },
        T,
      );
    }
    await store.close();

    const db = raw(f.db);
    db.exec(
      `UPDATE connections SET refresh_token = (SELECT refresh_token FROM connections WHERE name = 'a') WHERE name = 'b'`,
    );
    db.exec(`UPDATE connections SET access_token = refresh_token WHERE name = 'a'`);
    db.exec(`UPDATE outbox SET payload = (SELECT payload FROM outbox WHERE id = 'm1') WHERE id = 'm2'`);
    db.close();

    const reopened = await f.open();
    const errB = await rejection(reopened.getConnection('b'));
    expect(errB).toBeInstanceOf(KeyError);
    expect(errB.message).toContain('connections:b:refresh_token');
    expect(errB.message).not.toContain('rt-a');
    expect((await rejection(reopened.getConnection('a'))).message).toContain('connections:a:access_token');
    expect((await rejection(reopened.getMessage('m2'))).message).toContain('outbox:m2:payload');
    expect((await reopened.getMessage('m1'))?.payload).toBe('m1');
    await reopened.close();
  });
});

describe('SQLite change notification across handles', () => {
  it('numbers changes from the upgrade on for a store of schema 2, and reports only those', async () => {
    const f = fixture();
    const key = generateKey();
    const first = await f.open(key);
    for (const name of ['a', 'b', 'c']) await first.ensureConnection(name, T);
    await first.close();
    const db = raw(f.db);
    db.exec(`${UNDO_CHANGE_SEQ} DELETE FROM schema_migrations WHERE version > 2`);
    db.close();
    const open = (): SqliteStore => SqliteStore.open(f.db, { sealer: createSealer(key), keySpec: 'env:K', pollMs: 0 });
    const a = open();
    const b = open();
    try {
      const seen: string[] = [];
      const off = a.onConnectionChanged((name) => seen.push(name));
      await b.updateConnection('c', { failureCount: 1 }, { now: T });
      await b.deleteConnection('a');
      await b.ensureConnection('d', T);
      a.pollChanges();
      expect(seen).toEqual(['c', 'a', 'd']);
      const seqs = raw(f.db);
      expect(seqs.prepare('SELECT name, change_seq FROM connections ORDER BY name').all()).toEqual([
        { name: 'b', change_seq: 0 },
        { name: 'c', change_seq: 1 },
        { name: 'd', change_seq: 3 },
      ]);
      seqs.close();
      off();
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("catchUpChanges reports another handle's commits at once, without waiting for a poll", async () => {
    const f = fixture();
    const key = generateKey();
    mkdirSync(f.dir, { recursive: true });
    const open = (): SqliteStore => SqliteStore.open(f.db, { sealer: createSealer(key), keySpec: 'env:K', pollMs: 0 });
    const a = open();
    const b = open();
    try {
      await b.ensureConnection('gmail', T);
      await a.catchUpChanges(); // nobody listens: nothing to do
      const seen: string[] = [];
      const off = a.onConnectionChanged((name) => seen.push(name));
      await b.updateConnection('gmail', { accessToken: 'rotated' }, { now: T });
      await a.catchUpChanges();
      expect(seen).toEqual(['gmail']);
      await a.catchUpChanges();
      expect(seen).toEqual(['gmail']);
      off();
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('reports connections changed by another handle, once, and not lease-only changes', async () => {
    const f = fixture();
    const key = generateKey();
    mkdirSync(f.dir, { recursive: true });
    const open = (): SqliteStore =>
      SqliteStore.open(f.db, {
        sealer: createSealer(key),
        keySpec: 'env:K',
        pollMs: 0,
      });
    const a = open();
    const b = open();
    await b.ensureConnection('gmail', T);
    const seen: string[] = [];
    const off = a.onConnectionChanged((name) => seen.push(name));

    a.pollChanges();
    expect(seen).toEqual([]); // subscribing took the baseline
    await b.ensureConnection('outlook', T);
    await b.updateConnection('gmail', { accessToken: 'new' }, { now: T });
    a.pollChanges();
    expect(seen.sort()).toEqual(['gmail', 'outlook']);
    a.pollChanges();
    expect(seen).toHaveLength(2); // nothing new

    await b.acquireRefreshLease('gmail', 'B', 1000, T); // not a data change
    await b.appendEvent({ type: 'probe_ok', connection: 'gmail', message: 'ok', data: null }, T);
    a.pollChanges();
    expect(seen).toHaveLength(2);

    seen.length = 0;
    await a.updateConnection('gmail', { failureCount: 1 }, { now: T }); // own write: told at once
    expect(seen).toEqual(['gmail']);
    await b.deleteConnection('outlook');
    a.pollChanges();
    expect(seen).toEqual(['gmail', 'outlook']); // own write not repeated; deletion seen

    off();
    await b.updateConnection('gmail', { failureCount: 2 }, { now: T });
    a.pollChanges();
    expect(seen).toHaveLength(2);
    await a.close();
    await b.close();
  });
});

describe('openStore', () => {
  const opts = { key: generateKey(), keySpec: 'env:K', baseDir: root };

  it.each([
    ['mysql://tw:s3cretpw@db.example/tw', /store must be sqlite:PATH, :memory: or postgres/],
    ['sqlite:', /needs a path/],
  ])('refuses %s with a StoreError that does not echo credentials', async (url, message) => {
    const err = await rejection(openStore(url, opts));
    expect(err).toBeInstanceOf(StoreError);
    expect(err.message).toMatch(message);
    expect(err.message).not.toContain('s3cretpw');
  });

  it('rejects a key that is not 32 bytes', async () => {
    expect(await rejection(openStore(':memory:', { ...opts, key: Buffer.alloc(16) }))).toBeInstanceOf(KeyError);
  });
});

describe('SQLite store across processes', () => {
  it('grants the refresh lease to one process at a time', async () => {
    const dir = join(root, 'race');
    mkdirSync(dir);
    const key = generateKey();
    const workers = 4;
    const wins = 25;
    const children = Array.from({ length: workers }, (_, i) =>
      spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          join(here, 'support', 'lease-race-worker.ts'),
          join(dir, 'race.db'),
          `worker-${i}`,
          String(wins),
          dir,
        ],
        { env: { ...process.env, TW_TEST_KEY: key.toString('base64') }, stdio: ['pipe', 'pipe', 'inherit'] },
      ),
    );
    const outputs = children.map((child) => {
      let out = '';
      let ready: () => void = () => {};
      const isReady = new Promise<void>((resolve) => (ready = resolve));
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (chunk: string) => {
        out += chunk;
        if (out.startsWith('ready\n')) ready();
      });
      const done = new Promise<string>((resolve, reject) => {
        child.on('error', reject);
        child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`worker exited with ${code}`))));
      });
      return { isReady, done };
    });
    // Every racer has opened the store (migrating concurrently); start them together.
    await Promise.all(outputs.map((o) => o.isReady));
    for (const child of children) child.stdin.end('go\n');
    const reports = (await Promise.all(outputs.map((o) => o.done))).map(
      (out) =>
        JSON.parse(out.slice('ready\n'.length)) as {
          wins: number;
          conflicts: number;
          overlaps: number;
          misses: number;
        },
    );
    for (const r of reports) expect(r).toMatchObject({ wins, conflicts: 0, overlaps: 0 });
    // Contention really happened: someone found the lease taken.
    expect(reports.reduce((n, r) => n + r.misses, 0)).toBeGreaterThan(0);

    const store = await openStore(`sqlite:${join(dir, 'race.db')}`, { key, keySpec: 'env:K', baseDir: '/' });
    const shared = await store.getConnection('shared');
    expect(shared?.accessToken).toBe(String(workers * wins));
    expect(shared?.leaseOwner).toBeNull();
    await store.close();
  });
});

describe('group commit', () => {
  const message = (id: string, key: string) => ({
    id,
    mailbox: 'agent',
    idempotencyKey: key,
    messageId: `<${id}@example.com>`,
    payload: JSON.stringify({ raw: 'x', envelope: { from: 'a@example.com', to: ['b@example.com'] } }),
    createdAt: T,
  });

  it('writes made together commit together; one that fails is rolled back and rejected alone', async () => {
    const f = fixture();
    const store = await f.open();
    const results = await Promise.allSettled([
      store.enqueueMessage(message('m1', 'k1'), T),
      store.enqueueMessage(message('m1', 'k2'), T), // same id, another key: a conflict
      store.appendEvent({ type: 'mail_queued', connection: null, message: 'queued m1', data: {} }, T),
      store.enqueueMessage(message('m2', 'k3'), T),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    await store.close();
    // Committed, not merely held in memory: another connection reads them.
    const raw = new Database(f.db, { readonly: true });
    expect((raw.prepare('SELECT id FROM outbox ORDER BY id').all() as { id: string }[]).map((r) => r.id)).toEqual([
      'm1',
      'm2',
    ]);
    expect(raw.prepare(`SELECT COUNT(*) AS n FROM events WHERE type = 'mail_queued'`).get()).toEqual({ n: 1 });
    raw.close();
  });

  it('eight writes made together cost one commit: the WAL grows by one set of pages, not eight', async () => {
    const walGrowth = async (together: boolean): Promise<number> => {
      const f = fixture();
      const store = await f.open();
      await store.enqueueMessage(message('warm', 'warm'), T);
      const before = statSync(`${f.db}-wal`).size;
      const ids = Array.from({ length: 8 }, (_, i) => `g${i}`);
      if (together) await Promise.all(ids.map((id) => store.enqueueMessage(message(id, id), T)));
      else for (const id of ids) await store.enqueueMessage(message(id, id), T);
      const growth = statSync(`${f.db}-wal`).size - before;
      await store.close();
      return growth;
    };
    const one = await walGrowth(true);
    const eight = await walGrowth(false);
    expect(one * 4).toBeLessThan(eight);
  });

  it('close() commits writes that were accepted but not yet flushed', async () => {
    const f = fixture();
    const store = await f.open();
    const p = store.enqueueMessage(message('m3', 'k4'), T);
    await store.close();
    await expect(p).resolves.toMatchObject({ created: true });
    const raw = new Database(f.db, { readonly: true });
    expect(raw.prepare('SELECT COUNT(*) AS n FROM outbox').get()).toEqual({ n: 1 });
    raw.close();
  });
});
