/**
 * PostgreSQL store behaviour beyond the shared contract (test/store/postgres-contract.test.ts):
 * races between separate pools (as separate nodes would be), change notification across nodes
 * by NOTIFY and by polling, a server restart mid-run, and the errors a user sees when the
 * database is missing, unreachable, newer than the code or sealed with another key.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { KeyError, StoreError, TransientError } from '../../src/core/errors.js';
import { generateKey } from '../../src/store/key.js';
import { openStore } from '../../src/store/open-store.js';
import { PostgresStore, type PostgresStoreOptions } from '../../src/store/postgres/index.js';
import { createSealer } from '../../src/store/seal.js';
import { startPostgres, type PostgresPeer } from '../peers/postgres.js';

let peer: PostgresPeer;
const key = generateKey();
const T0 = 1_700_000_000_000;

beforeAll(async () => {
  peer = await startPostgres();
});
afterAll(async () => {
  await peer?.stop();
});

function open(url: string, extra: Partial<PostgresStoreOptions> = {}): Promise<PostgresStore> {
  return PostgresStore.open(url, { sealer: createSealer(key), keySpec: 'env:TEST_KEY', ...extra });
}

/** Resolves with the next name `store` reports changed, or rejects after `ms` of real time. */
async function nextChange(
  store: PostgresStore,
  ms = 5_000,
): Promise<{ promise: Promise<string>; unsubscribe: () => void }> {
  let unsubscribe = (): void => undefined;
  const promise = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no change notification')), ms);
    unsubscribe = store.onConnectionChanged((name) => {
      clearTimeout(timer);
      resolve(name);
    });
  });
  await store.changeFeedReady();
  return { promise, unsubscribe };
}

describe('PostgreSQL store across nodes', () => {
  it('gives a contended refresh lease to exactly one of many nodes, and to another once it ends', async () => {
    const url = await peer.createDatabase('lease');
    const nodes = await Promise.all(Array.from({ length: 6 }, () => open(url)));
    try {
      await nodes[0]!.ensureConnection('gmail', T0);
      for (let round = 0; round < 20; round++) {
        const now = T0 + round * 60_000;
        const won = await Promise.all(nodes.map((s, i) => s.acquireRefreshLease('gmail', `node-${i}`, 30_000, now)));
        const winners = won.filter((r) => r !== null);
        expect(winners).toHaveLength(1);
        expect(winners[0]!.leaseOwner).toMatch(/^node-/);
        // The lease holder's write is accepted; a stranger's is refused.
        const holder = winners[0]!.leaseOwner as string;
        await nodes[0]!.updateConnection('gmail', { accessToken: `at-${round}` }, { now: now + 1, leaseOwner: holder });
        await expect(
          nodes[0]!.updateConnection('gmail', { accessToken: 'stolen' }, { now: now + 1, leaseOwner: 'stranger' }),
        ).rejects.toMatchObject({ code: 'TW_CONFLICT' });
        // Not released: the next round starts after the lease ended (now + 60 s > until).
      }
      // A holder whose lease has ended may not write.
      const row = await nodes[1]!.acquireRefreshLease('gmail', 'late', 10_000, T0 + 10_000_000);
      expect(row?.accessToken).toBe('at-19');
      await expect(
        nodes[1]!.updateConnection(
          'gmail',
          { accessToken: 'too-late' },
          { now: T0 + 10_000_000 + 10_000, leaseOwner: 'late' },
        ),
      ).rejects.toMatchObject({ code: 'TW_CONFLICT' });
    } finally {
      await Promise.all(nodes.map((s) => s.close()));
    }
  });

  it('gives a leader lease to one node; another takes it only after it ends', async () => {
    const url = await peer.createDatabase('leader');
    const nodes = await Promise.all(Array.from({ length: 4 }, () => open(url)));
    try {
      const held = await Promise.all(nodes.map((s, i) => s.acquireLease('telegram:bot1', `n${i}`, 10_000, T0)));
      expect(held.filter(Boolean)).toHaveLength(1);
      const leader = `n${held.indexOf(true)}`;
      const other = leader === 'n0' ? 'n1' : 'n0';
      // Renewal by the holder works; a takeover before the end does not.
      expect(await nodes[2]!.acquireLease('telegram:bot1', leader, 10_000, T0 + 5_000)).toBe(true);
      expect(await nodes[2]!.acquireLease('telegram:bot1', other, 10_000, T0 + 14_999)).toBe(false);
      expect(await nodes[3]!.getLease('telegram:bot1')).toEqual({ owner: leader, until: T0 + 15_000 });
      expect(await nodes[3]!.acquireLease('telegram:bot1', other, 10_000, T0 + 15_000)).toBe(true);
      // The old holder's release no longer touches the new holder's lease.
      await nodes[0]!.releaseLease('telegram:bot1', leader);
      expect((await nodes[1]!.getLease('telegram:bot1'))?.owner).toBe(other);
    } finally {
      await Promise.all(nodes.map((s) => s.close()));
    }
  });

  it('lets concurrent senders on different nodes claim disjoint outbox messages (SKIP LOCKED)', async () => {
    const url = await peer.createDatabase('outbox');
    const nodes = await Promise.all(Array.from({ length: 4 }, () => open(url)));
    try {
      for (let i = 0; i < 40; i++) {
        await nodes[0]!.enqueueMessage(
          {
            id: `m${i}`,
            mailbox: 'ops',
            idempotencyKey: `k${i}`,
            messageId: `<m${i}@x>`,
            payload: `secret body ${i}`,
            createdAt: T0 + i,
          },
          T0,
        );
      }
      const claims = await Promise.all(
        [0, 1, 2, 3, 0, 1, 2, 3].map((n, i) =>
          nodes[n]!.claimMessages({ owner: `s${i}`, now: T0 + 1, leaseMs: 60_000, limit: 7 }),
        ),
      );
      const ids = claims.flat().map((m) => m.id);
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids.length).toBe(40);
      expect(claims.flat().every((m) => m.payload.startsWith('secret body'))).toBe(true);
      // A crashed sender's messages come back after its lease.
      const again = await nodes[1]!.claimMessages({ owner: 'late', now: T0 + 60_001, leaseMs: 60_000, limit: 100 });
      expect(again).toHaveLength(40);
    } finally {
      await Promise.all(nodes.map((s) => s.close()));
    }
  });

  it('tells other nodes a connection changed, by LISTEN/NOTIFY and by polling', async () => {
    const url = await peer.createDatabase('notify');
    const writer = await open(url);
    const listener = await open(url);
    const poller = await open(url, { notify: 'poll', pollMs: 20 });
    try {
      expect(listener.usesNotify).toBe(true);
      expect(poller.usesNotify).toBe(false);
      await writer.ensureConnection('github', T0);
      const viaNotify = await nextChange(listener);
      const viaPoll = await nextChange(poller);
      await writer.updateConnection('github', { accessToken: 'fresh' }, { now: T0 + 1 });
      await expect(viaNotify.promise).resolves.toBe('github');
      await expect(viaPoll.promise).resolves.toBe('github');
      viaNotify.unsubscribe();
      viaPoll.unsubscribe();
    } finally {
      await Promise.all([writer.close(), listener.close(), poller.close()]);
    }
  });

  it("catchUpChanges reports another node's commit at once, without waiting for the poll", async () => {
    const url = await peer.createDatabase('catchup');
    const writer = await open(url);
    const reader = await open(url, { notify: 'poll', pollMs: 3_600_000 });
    try {
      await writer.ensureConnection('github', T0);
      const seen: string[] = [];
      const off = reader.onConnectionChanged((name) => seen.push(name));
      await reader.changeFeedReady();
      await writer.updateConnection('github', { accessToken: 'fresh' }, { now: T0 + 1 });
      await reader.catchUpChanges();
      expect(seen).toContain('github');
      off();
    } finally {
      await Promise.all([writer.close(), reader.close()]);
    }
  });

  it('reports a change whose transaction took a lower sequence number but committed after a higher one', async () => {
    const url = await peer.createDatabase('lateseq');
    const writer = await open(url);
    const reader = await open(url, { notify: 'poll', pollMs: 3_600_000 });
    const slow = new pg.Client({ connectionString: url });
    await slow.connect();
    try {
      await writer.ensureConnection('early', T0);
      await writer.ensureConnection('late', T0);
      const seen: string[] = [];
      const off = reader.onConnectionChanged((name) => seen.push(name));
      await reader.changeFeedReady();
      // A write that takes its number first and commits last (as the store's own UPDATE does).
      await slow.query('BEGIN');
      const taken = await slow.query<{ change_seq: string }>(
        `UPDATE connections SET version = version + 1, change_seq = nextval('connection_change_seq')
         WHERE name = 'early' RETURNING change_seq`,
      );
      await writer.updateConnection('late', { failureCount: 1 }, { now: T0 + 1 });
      await reader.catchUpChanges();
      expect(seen).toEqual(['late']);
      await slow.query('COMMIT');
      await reader.catchUpChanges();
      expect(seen).toEqual(['late', 'early']);
      expect(Number(taken.rows[0]?.change_seq)).toBeLessThan(
        Number(
          (await slow.query<{ s: string }>(`SELECT change_seq AS s FROM connections WHERE name = 'late'`)).rows[0]?.s,
        ),
      );
      await reader.catchUpChanges();
      expect(seen).toEqual(['late', 'early']); // reported once
      off();
    } finally {
      await slow.end();
      await Promise.all([writer.close(), reader.close()]);
    }
  });

  it('reports a write that took its sequence number before the feed started and committed after', async () => {
    const url = await peer.createDatabase('startseq');
    const writer = await open(url);
    const reader = await open(url, { notify: 'poll', pollMs: 3_600_000 });
    const slow = new pg.Client({ connectionString: url });
    await slow.connect();
    try {
      await writer.ensureConnection('early', T0);
      await writer.ensureConnection('before', T0);
      await slow.query('BEGIN');
      await slow.query(
        `UPDATE connections SET version = version + 1, change_seq = nextval('connection_change_seq') WHERE name = 'early'`,
      );
      await writer.updateConnection('before', { failureCount: 1 }, { now: T0 + 1 }); // committed before start
      const seen: string[] = [];
      const off = reader.onConnectionChanged((name) => seen.push(name));
      await reader.changeFeedReady();
      await reader.catchUpChanges();
      expect(seen).toEqual([]);
      await slow.query('COMMIT');
      await reader.catchUpChanges();
      expect(seen).toEqual(['early']);
      off();
    } finally {
      await slow.end();
      await Promise.all([writer.close(), reader.close()]);
    }
  });

  it('rides out a server restart: no crash, no lost write, notifications resume', async () => {
    const url = await peer.createDatabase('restart');
    const troubles: string[] = [];
    const a = await open(url, { onTrouble: (m) => troubles.push(m) });
    const b = await open(url, { onTrouble: (m) => troubles.push(m) });
    try {
      await a.ensureConnection('ms', T0);
      const first = await nextChange(b);
      await a.updateConnection('ms', { refreshToken: 'rt-1' }, { now: T0 + 1 });
      await first.promise;
      first.unsubscribe();
      const watching = await nextChange(b, 20_000);
      await peer.restart();
      // Idle pooled connections died; the first statement reconnects instead of failing.
      const leased = await a.acquireRefreshLease('ms', 'node-a', 30_000, T0 + 2);
      expect(leased?.refreshToken).toBe('rt-1');
      await a.updateConnection('ms', { refreshToken: 'rt-2' }, { now: T0 + 3, leaseOwner: 'node-a' });
      expect((await b.getConnection('ms'))?.refreshToken).toBe('rt-2');
      await expect(watching.promise).resolves.toBe('ms');
      watching.unsubscribe();
      if (peer.owned) expect(troubles.join('\n')).toMatch(/lost/);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('keeps retrying a write while the server is down, and lands it when it is back', async () => {
    if (!peer.owned) return; // needs control of the server process (not TOKENWARDEN_TEST_PG_URL)
    const url = await peer.createDatabase('outage');
    const a = await open(url, { retryMs: 20_000 });
    try {
      await a.ensureConnection('ms', T0);
      await peer.stopServer();
      const write = a.updateConnection('ms', { refreshToken: 'rotated-during-outage' }, { now: T0 + 1 });
      await peer.startServer();
      await write;
      expect((await a.getConnection('ms'))?.refreshToken).toBe('rotated-during-outage');
    } finally {
      await a.close();
    }
  });

  it('seals secrets at rest with the same encoding and AAD as SQLite', async () => {
    const url = await peer.createDatabase('sealed');
    const s = await open(url);
    const raw = new pg.Client({ connectionString: url });
    await raw.connect();
    try {
      await s.ensureConnection('g', T0);
      await s.updateConnection(
        'g',
        { accessToken: 'ya29.secret-access', refreshToken: '1//secret-refresh' },
        { now: T0 },
      );
      const { rows } = await raw.query<{ access_token: string; refresh_token: string }>(
        `SELECT access_token, refresh_token FROM connections WHERE name = 'g'`,
      );
      expect(rows[0]!.access_token).toMatch(/^v1\./);
      expect(JSON.stringify(rows)).not.toContain('secret');
      expect(createSealer(key).open(rows[0]!.refresh_token, 'connections:g:refresh_token')).toBe('1//secret-refresh');
      // Moved to another row, a sealed value no longer opens.
      await s.ensureConnection('h', T0);
      await raw.query(`UPDATE connections SET refresh_token = $1 WHERE name = 'h'`, [rows[0]!.refresh_token]);
      await expect(s.getConnection('h')).rejects.toBeInstanceOf(KeyError);
    } finally {
      await raw.end();
      await s.close();
    }
  });
});

describe('PostgreSQL store errors', () => {
  it('names host and database, never the password, when the database does not exist', async () => {
    const u = new URL(peer.adminUrl);
    u.pathname = '/no_such_db';
    u.password = 'hunter2-very-secret';
    const err = await openStore(u.toString(), { key, keySpec: 'env:K', baseDir: '/' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect((err as Error).message).toContain(`${u.hostname}:${u.port}/no_such_db`);
    expect((err as Error).message).toMatch(/does not exist/);
    expect(String((err as Error).message)).not.toContain('hunter2');
  });

  it('says the server is unreachable (transient) without echoing the password', async () => {
    const err = await open('postgres://tw:hunter2-very-secret@127.0.0.1:1/tokenwarden', { retryMs: 0 }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TransientError);
    expect((err as Error).message).toContain('tw@127.0.0.1:1/tokenwarden');
    expect((err as Error).message).not.toContain('hunter2');
  });

  it('refuses a schema newer than the code, and a different key', async () => {
    const url = await peer.createDatabase('refuse');
    const s = await open(url);
    await s.close();
    const other = await PostgresStore.open(url, {
      sealer: createSealer(generateKey()),
      keySpec: 'file:other.key',
    }).catch((e: unknown) => e);
    expect(other).toBeInstanceOf(KeyError);
    expect((other as Error).message).toContain('file:other.key');

    const raw = new pg.Client({ connectionString: url });
    await raw.connect();
    await raw.query(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 0)`);
    await raw.end();
    const err = await open(url).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect((err as Error).message).toMatch(/schema version 999, newer than this tokenwarden understands/);
  });

  it('opens through openStore with a postgres:// URL', async () => {
    const url = await peer.createDatabase('seam');
    const s = await openStore(url, { key, keySpec: 'env:K', baseDir: '/' });
    try {
      expect(s.kind).toBe('postgres');
      expect((await s.ensureConnection('x', T0)).state).toBe('unauthorized');
    } finally {
      await s.close();
    }
  });
});
