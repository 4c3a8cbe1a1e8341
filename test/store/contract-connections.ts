/**
 * Connections and their refresh leases. Part of the Store contract (contract.ts).
 */
import { beforeEach, describe, expect, it, vi } from 'vitest';

import { ConflictError, NotFoundError, UsageError } from '../../src/core/errors.js';
import { connectionPages } from '../../src/store/paging.js';
import type { ConnectionFacts, Store } from '../../src/store/types.js';
import { CAUSE, rejection, T } from './contract-fixtures.js';

export function connectionContract(s: () => Store): void {
  describe('connections', () => {
    it('ensureConnection inserts an unauthorized row once', async () => {
      expect(await s().getConnection('gmail')).toBeNull();
      const c = await s().ensureConnection('gmail', T);
      expect(c).toMatchObject({
        name: 'gmail',
        state: 'unauthorized',
        accessToken: null,
        refreshToken: null,
        idToken: null,
        cause: null,
        lifetime: null,
        failureCount: 0,
        leaseOwner: null,
        leaseUntil: null,
        createdAt: T,
        updatedAt: T,
      });
      const again = await s().ensureConnection('gmail', T + 1000);
      expect(again).toEqual(c);
      expect(await s().getConnection('gmail')).toEqual(c);
    });

    it('lists every connection', async () => {
      await s().ensureConnection('b', T);
      await s().ensureConnection('a', T);
      expect((await s().listConnections()).map((c) => c.name).sort()).toEqual(['a', 'b']);
    });

    it('pageConnections walks every row in name order, a page at a time, secrets opened', async () => {
      const names = ['e', 'a', 'd', 'b', 'c'];
      for (const name of names) {
        await s().ensureConnection(name, T);
        await s().updateConnection(name, { refreshToken: `rt-${name}` }, { now: T });
      }
      const first = await s().pageConnections({ limit: 2 });
      expect(first.map((c) => [c.name, c.refreshToken])).toEqual([
        ['a', 'rt-a'],
        ['b', 'rt-b'],
      ]);
      expect((await s().pageConnections({ after: 'b', limit: 2 })).map((c) => c.name)).toEqual(['c', 'd']);
      expect((await s().pageConnections({ after: 'd', limit: 2 })).map((c) => c.name)).toEqual(['e']);
      expect(await s().pageConnections({ after: 'e', limit: 2 })).toEqual([]);
      const pages: string[][] = [];
      for await (const page of connectionPages(s(), 2)) pages.push(page.map((c) => c.name));
      expect(pages).toEqual([['a', 'b'], ['c', 'd'], ['e']]);
      expect(await s().pageConnections({ after: null, limit: 10 })).toEqual(await s().listConnections());
    });

    it('pageConnections refuses a page size that is not a whole number of rows', async () => {
      await s().ensureConnection('a', T);
      for (const limit of [0, -1, 1.5, Number.NaN]) {
        const err = (await rejection(s().pageConnections({ limit }))) as Error;
        expect(err).toBeInstanceOf(UsageError);
        expect(err.message).toContain('whole number of rows');
      }
    });

    it('connectionVersions names every row with its current version', async () => {
      await s().ensureConnection('a', T);
      const b = await s().ensureConnection('b', T);
      await s().updateConnection('b', { state: 'healthy' }, { now: T + 1 });
      expect(await s().connectionVersions?.()).toEqual(
        new Map([
          ['a', 1],
          ['b', b.version + 1],
        ]),
      );
      // The streamed form visits the same pairs.
      const visited = new Map<string, number>();
      await s().forEachConnectionVersion?.((name, version) => visited.set(name, version));
      expect(visited).toEqual(await s().connectionVersions?.());
      expect(typeof s().forEachConnectionVersion).toBe('function');
    });

    it('listConnectionFacts lists every row without its secrets, saying which are set', async () => {
      await s().ensureConnection('a', T);
      await s().ensureConnection('b', T);
      await s().updateConnection(
        'b',
        { state: 'healthy', accessToken: 'at-b', refreshToken: 'rt-b', accessExpiresAt: T + 60_000, cause: CAUSE },
        { now: T + 1 },
      );
      const facts = await s().listConnectionFacts?.();
      const full = await s().listConnections();
      expect(facts).toEqual(
        full.map(({ accessToken, refreshToken, idToken: _id, ...rest }) => ({
          ...rest,
          hasAccessToken: accessToken !== null,
          hasRefreshToken: refreshToken !== null,
        })),
      );
      expect(facts?.map((f) => [f.name, f.hasAccessToken, f.hasRefreshToken])).toEqual([
        ['a', false, false],
        ['b', true, true],
      ]);
      expect(JSON.stringify(facts)).not.toMatch(/at-b|rt-b/);
    });

    it('forEachConnectionFacts streams the same secret-free rows in name order', async () => {
      for (const name of ['c', 'a', 'b']) await s().ensureConnection(name, T);
      await s().updateConnection('b', { accessToken: 'at-b', refreshToken: 'rt-b' }, { now: T + 1 });
      const visited: ConnectionFacts[] = [];
      expect(s().forEachConnectionFacts).toBeTypeOf('function');
      await s().forEachConnectionFacts?.((f) => visited.push(f));
      expect(visited).toEqual(await s().listConnectionFacts?.());
      expect(visited.map((f) => f.name)).toEqual(['a', 'b', 'c']);
      expect(JSON.stringify(visited)).not.toMatch(/at-b|rt-b/);
    });

    it('updateConnection applies the patch, bumps version and updatedAt', async () => {
      const c0 = await s().ensureConnection('gmail', T);
      const patch = {
        state: 'healthy' as const,
        accessToken: 'ya29.access-1',
        refreshToken: '1//refresh-1',
        idToken: 'eyJ.id.token',
        tokenType: 'Bearer',
        scope: 'gmail.send',
        account: 'agent@example.com',
        accessExpiresAt: T + 3_600_000,
        grantedAt: T,
        refreshExpiresAt: T + 7 * 86_400_000,
        lastRefreshAt: T,
        lastUsedAt: T,
        cause: CAUSE,
        lifetime: { deathAges: [7 * 86_400_000], lifetimeMs: 7 * 86_400_000, cause: CAUSE, learnedAt: T },
        failureCount: 2,
        nextAttemptAt: T + 5000,
        lastError: 'timeout',
      };
      const c1 = await s().updateConnection('gmail', patch, { now: T + 10 });
      expect(c1).toMatchObject({ ...patch, version: c0.version + 1, updatedAt: T + 10, createdAt: T });
      expect(await s().getConnection('gmail')).toEqual(c1);
      const c2 = await s().updateConnection('gmail', { failureCount: 0 }, { now: T + 20 });
      expect(c2.version).toBe(c0.version + 2);
      expect(c2).toMatchObject({ failureCount: 0, refreshToken: '1//refresh-1', cause: CAUSE });
    });

    it('undefined leaves a secret field, null clears it', async () => {
      await s().ensureConnection('gmail', T);
      await s().updateConnection('gmail', { accessToken: 'at', refreshToken: 'rt', idToken: 'it' }, { now: T });
      const kept = await s().updateConnection(
        'gmail',
        { accessToken: 'at-2', refreshToken: undefined, idToken: undefined },
        { now: T + 1 },
      );
      expect(kept).toMatchObject({ accessToken: 'at-2', refreshToken: 'rt', idToken: 'it' });
      const cleared = await s().updateConnection('gmail', { idToken: null, cause: null }, { now: T + 2 });
      expect(cleared).toMatchObject({ accessToken: 'at-2', refreshToken: 'rt', idToken: null, cause: null });
      expect(await s().getConnection('gmail')).toMatchObject({ refreshToken: 'rt', idToken: null });
    });

    it('expectVersion: a stale writer gets ConflictError and changes nothing', async () => {
      const c0 = await s().ensureConnection('gmail', T);
      await s().updateConnection('gmail', { accessToken: 'first' }, { now: T, expectVersion: c0.version });
      const err = await rejection(
        s().updateConnection('gmail', { accessToken: 'stale' }, { now: T + 1, expectVersion: c0.version }),
      );
      expect(err).toBeInstanceOf(ConflictError);
      expect((err as Error).message).not.toContain('stale');
      expect(await s().getConnection('gmail')).toMatchObject({ accessToken: 'first', version: c0.version + 1 });
    });

    it('updating an unknown connection is NotFoundError', async () => {
      expect(await rejection(s().updateConnection('nope', { failureCount: 1 }, { now: T }))).toBeInstanceOf(
        NotFoundError,
      );
    });

    it('deleteConnection removes the row', async () => {
      await s().ensureConnection('gmail', T);
      await s().deleteConnection('gmail');
      expect(await s().getConnection('gmail')).toBeNull();
      await s().deleteConnection('gmail');
    });

    it('notifies in-process listeners of changes', async () => {
      const store = s();
      if (!store.onConnectionChanged) return;
      const seen: string[] = [];
      const off = store.onConnectionChanged((name) => seen.push(name));
      await store.ensureConnection('gmail', T);
      await store.updateConnection('gmail', { state: 'healthy' }, { now: T });
      // Delivery may be asynchronous (e.g. LISTEN/NOTIFY); wait for it, bounded.
      await vi.waitFor(() => expect(seen).toContain('gmail'));
      off();
      const count = seen.length;
      await s().updateConnection('gmail', { state: 'degraded' }, { now: T + 1 });
      expect(seen).toHaveLength(count);
    });
  });

  describe('refresh leases', () => {
    beforeEach(async () => {
      await s().ensureConnection('gmail', T);
    });

    it('acquire, contend, renew, release', async () => {
      const a = await s().acquireRefreshLease('gmail', 'A', 30_000, T);
      expect(a).toMatchObject({ name: 'gmail', leaseOwner: 'A', leaseUntil: T + 30_000 });
      expect(await s().acquireRefreshLease('gmail', 'B', 30_000, T + 1000)).toBeNull();
      expect(await s().getConnection('gmail')).toMatchObject({ leaseOwner: 'A', leaseUntil: T + 30_000 });
      const renewed = await s().acquireRefreshLease('gmail', 'A', 30_000, T + 2000);
      expect(renewed?.leaseUntil).toBe(T + 32_000);
      await s().releaseRefreshLease('gmail', 'B'); // not B's: no effect
      expect(await s().acquireRefreshLease('gmail', 'B', 30_000, T + 3000)).toBeNull();
      await s().releaseRefreshLease('gmail', 'A');
      expect(await s().getConnection('gmail')).toMatchObject({ leaseOwner: null, leaseUntil: null });
      expect(await s().acquireRefreshLease('gmail', 'B', 30_000, T + 4000)).toMatchObject({ leaseOwner: 'B' });
    });

    it('an expired lease can be taken, and the taker sees the latest row', async () => {
      await s().acquireRefreshLease('gmail', 'A', 30_000, T);
      await s().updateConnection('gmail', { refreshToken: 'rotated-by-A' }, { now: T + 10, leaseOwner: 'A' });
      expect(await s().acquireRefreshLease('gmail', 'B', 30_000, T + 29_999)).toBeNull();
      const b = await s().acquireRefreshLease('gmail', 'B', 30_000, T + 30_000);
      expect(b).toMatchObject({ leaseOwner: 'B', leaseUntil: T + 60_000, refreshToken: 'rotated-by-A' });
    });

    it('a writer whose lease expired or was taken cannot update', async () => {
      const a = await s().acquireRefreshLease('gmail', 'A', 30_000, T);
      const ok = await s().updateConnection('gmail', { accessToken: 'a1' }, { now: T + 1, leaseOwner: 'A' });
      expect(ok.version).toBe((a?.version ?? 0) + 1);
      // Expired, nobody took it yet: still refused.
      expect(
        await rejection(s().updateConnection('gmail', { accessToken: 'late' }, { now: T + 30_000, leaseOwner: 'A' })),
      ).toBeInstanceOf(ConflictError);
      // Taken over by B: A refused, B allowed.
      await s().acquireRefreshLease('gmail', 'B', 30_000, T + 30_001);
      expect(
        await rejection(s().updateConnection('gmail', { accessToken: 'late' }, { now: T + 30_002, leaseOwner: 'A' })),
      ).toBeInstanceOf(ConflictError);
      await s().updateConnection('gmail', { accessToken: 'b1' }, { now: T + 30_003, leaseOwner: 'B' });
      // Released: nobody holds it.
      await s().releaseRefreshLease('gmail', 'B');
      expect(
        await rejection(s().updateConnection('gmail', { accessToken: 'x' }, { now: T + 30_004, leaseOwner: 'B' })),
      ).toBeInstanceOf(ConflictError);
      expect(await s().getConnection('gmail')).toMatchObject({ accessToken: 'b1' });
    });

    it('concurrent acquirers: exactly one wins', async () => {
      const results = await Promise.all(
        ['A', 'B', 'C', 'D', 'E'].map((o) => s().acquireRefreshLease('gmail', o, 30_000, T)),
      );
      const winners = results.filter((r) => r !== null);
      expect(winners).toHaveLength(1);
      expect((await s().getConnection('gmail'))?.leaseOwner).toBe(winners[0]?.leaseOwner);
    });
  });
}
