/**
 * The contract every {@link Store} implementation must pass (DESIGN section 6). Run it with a
 * factory that returns a fresh, empty store per test:
 *
 *   runStoreContract('sqlite', async () => ({ store, reopen, cleanup }));
 *
 * `reopen` (optional) closes nothing itself: it opens a second handle on the same data after the
 * suite has closed the first, to prove persistence. Times are parameters: no test sleeps.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { ConflictError, NotFoundError } from '../../src/core/errors.js';
import type { NewFlow, NewOutboxMessage, Store } from '../../src/store/types.js';

export interface StoreFixture {
  store: Store;
  reopen?: () => Promise<Store>;
  cleanup: () => Promise<void>;
}

const T = Date.UTC(2026, 0, 1);
const CAUSE = {
  id: 'revoked',
  summary: 'The grant was revoked.',
  fix: 'Authorize again.',
  providerError: 'invalid_grant',
};

function newFlow(id: string, over: Partial<NewFlow> = {}): NewFlow {
  return {
    id,
    connection: 'gmail',
    kind: 'auth_code',
    state: `state-${id}`,
    codeVerifier: `verifier-${id}`,
    deviceCode: null,
    nonce: `nonce-${id}`,
    userCode: null,
    url: `https://auth.example/authorize?state=state-${id}`,
    redirectUri: 'http://127.0.0.1:7465/oauth/callback',
    interval: null,
    reason: 'manual',
    askedVia: [],
    createdAt: T,
    expiresAt: T + 600_000,
    ...over,
  };
}

function newMessage(id: string, over: Partial<NewOutboxMessage> = {}): NewOutboxMessage {
  return {
    id,
    mailbox: 'agent',
    idempotencyKey: `idem-${id}`,
    messageId: `<${id}@tokenwarden>`,
    payload: JSON.stringify({ to: 'a@example.com', subject: `hello ${id}` }),
    createdAt: T,
    ...over,
  };
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

export function runStoreContract(label: string, factory: () => Promise<StoreFixture>): void {
  describe(`Store contract: ${label}`, () => {
    let fx: StoreFixture;
    let store: Store;
    let closed = false;

    beforeEach(async () => {
      fx = await factory();
      store = fx.store;
      closed = false;
    });
    afterEach(async () => {
      if (!closed) await store.close();
      await fx.cleanup();
    });

    describe('connections', () => {
      it('ensureConnection inserts an unauthorized row once', async () => {
        expect(await store.getConnection('gmail')).toBeNull();
        const c = await store.ensureConnection('gmail', T);
        expect(c).toMatchObject({
          name: 'gmail',
          state: 'unauthorized',
          accessToken: null,
          refreshToken: null,
          idToken: null,
          cause: null,
          failureCount: 0,
          leaseOwner: null,
          leaseUntil: null,
          createdAt: T,
          updatedAt: T,
        });
        const again = await store.ensureConnection('gmail', T + 1000);
        expect(again).toEqual(c);
        expect(await store.getConnection('gmail')).toEqual(c);
      });

      it('lists every connection', async () => {
        await store.ensureConnection('b', T);
        await store.ensureConnection('a', T);
        expect((await store.listConnections()).map((c) => c.name).sort()).toEqual(['a', 'b']);
      });

      it('updateConnection applies the patch, bumps version and updatedAt', async () => {
        const c0 = await store.ensureConnection('gmail', T);
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
          failureCount: 2,
          nextAttemptAt: T + 5000,
          lastError: 'timeout',
        };
        const c1 = await store.updateConnection('gmail', patch, { now: T + 10 });
        expect(c1).toMatchObject({ ...patch, version: c0.version + 1, updatedAt: T + 10, createdAt: T });
        expect(await store.getConnection('gmail')).toEqual(c1);
        const c2 = await store.updateConnection('gmail', { failureCount: 0 }, { now: T + 20 });
        expect(c2.version).toBe(c0.version + 2);
        expect(c2).toMatchObject({ failureCount: 0, refreshToken: '1//refresh-1', cause: CAUSE });
      });

      it('undefined leaves a secret field, null clears it', async () => {
        await store.ensureConnection('gmail', T);
        await store.updateConnection('gmail', { accessToken: 'at', refreshToken: 'rt', idToken: 'it' }, { now: T });
        const kept = await store.updateConnection(
          'gmail',
          { accessToken: 'at-2', refreshToken: undefined, idToken: undefined },
          { now: T + 1 },
        );
        expect(kept).toMatchObject({ accessToken: 'at-2', refreshToken: 'rt', idToken: 'it' });
        const cleared = await store.updateConnection('gmail', { idToken: null, cause: null }, { now: T + 2 });
        expect(cleared).toMatchObject({ accessToken: 'at-2', refreshToken: 'rt', idToken: null, cause: null });
        expect(await store.getConnection('gmail')).toMatchObject({ refreshToken: 'rt', idToken: null });
      });

      it('expectVersion: a stale writer gets ConflictError and changes nothing', async () => {
        const c0 = await store.ensureConnection('gmail', T);
        await store.updateConnection('gmail', { accessToken: 'first' }, { now: T, expectVersion: c0.version });
        const err = await rejection(
          store.updateConnection('gmail', { accessToken: 'stale' }, { now: T + 1, expectVersion: c0.version }),
        );
        expect(err).toBeInstanceOf(ConflictError);
        expect((err as Error).message).not.toContain('stale');
        expect(await store.getConnection('gmail')).toMatchObject({ accessToken: 'first', version: c0.version + 1 });
      });

      it('updating an unknown connection is NotFoundError', async () => {
        expect(await rejection(store.updateConnection('nope', { failureCount: 1 }, { now: T }))).toBeInstanceOf(
          NotFoundError,
        );
      });

      it('deleteConnection removes the row', async () => {
        await store.ensureConnection('gmail', T);
        await store.deleteConnection('gmail');
        expect(await store.getConnection('gmail')).toBeNull();
        await store.deleteConnection('gmail');
      });

      it('notifies in-process listeners of changes', async () => {
        if (!store.onConnectionChanged) return;
        const seen: string[] = [];
        const off = store.onConnectionChanged((name) => seen.push(name));
        await store.ensureConnection('gmail', T);
        await store.updateConnection('gmail', { state: 'healthy' }, { now: T });
        expect(seen).toContain('gmail');
        off();
        const count = seen.length;
        await store.updateConnection('gmail', { state: 'degraded' }, { now: T + 1 });
        expect(seen).toHaveLength(count);
      });
    });

    describe('refresh leases', () => {
      beforeEach(async () => {
        await store.ensureConnection('gmail', T);
      });

      it('acquire, contend, renew, release', async () => {
        const a = await store.acquireRefreshLease('gmail', 'A', 30_000, T);
        expect(a).toMatchObject({ name: 'gmail', leaseOwner: 'A', leaseUntil: T + 30_000 });
        expect(await store.acquireRefreshLease('gmail', 'B', 30_000, T + 1000)).toBeNull();
        expect(await store.getConnection('gmail')).toMatchObject({ leaseOwner: 'A', leaseUntil: T + 30_000 });
        const renewed = await store.acquireRefreshLease('gmail', 'A', 30_000, T + 2000);
        expect(renewed?.leaseUntil).toBe(T + 32_000);
        await store.releaseRefreshLease('gmail', 'B'); // not B's: no effect
        expect(await store.acquireRefreshLease('gmail', 'B', 30_000, T + 3000)).toBeNull();
        await store.releaseRefreshLease('gmail', 'A');
        expect(await store.getConnection('gmail')).toMatchObject({ leaseOwner: null, leaseUntil: null });
        expect(await store.acquireRefreshLease('gmail', 'B', 30_000, T + 4000)).toMatchObject({ leaseOwner: 'B' });
      });

      it('an expired lease can be taken, and the taker sees the latest row', async () => {
        await store.acquireRefreshLease('gmail', 'A', 30_000, T);
        await store.updateConnection('gmail', { refreshToken: 'rotated-by-A' }, { now: T + 10, leaseOwner: 'A' });
        expect(await store.acquireRefreshLease('gmail', 'B', 30_000, T + 29_999)).toBeNull();
        const b = await store.acquireRefreshLease('gmail', 'B', 30_000, T + 30_000);
        expect(b).toMatchObject({ leaseOwner: 'B', leaseUntil: T + 60_000, refreshToken: 'rotated-by-A' });
      });

      it('a writer whose lease expired or was taken cannot update', async () => {
        const a = await store.acquireRefreshLease('gmail', 'A', 30_000, T);
        const ok = await store.updateConnection('gmail', { accessToken: 'a1' }, { now: T + 1, leaseOwner: 'A' });
        expect(ok.version).toBe((a?.version ?? 0) + 1);
        // Expired, nobody took it yet: still refused.
        expect(
          await rejection(
            store.updateConnection('gmail', { accessToken: 'late' }, { now: T + 30_000, leaseOwner: 'A' }),
          ),
        ).toBeInstanceOf(ConflictError);
        // Taken over by B: A refused, B allowed.
        await store.acquireRefreshLease('gmail', 'B', 30_000, T + 30_001);
        expect(
          await rejection(
            store.updateConnection('gmail', { accessToken: 'late' }, { now: T + 30_002, leaseOwner: 'A' }),
          ),
        ).toBeInstanceOf(ConflictError);
        await store.updateConnection('gmail', { accessToken: 'b1' }, { now: T + 30_003, leaseOwner: 'B' });
        // Released: nobody holds it.
        await store.releaseRefreshLease('gmail', 'B');
        expect(
          await rejection(store.updateConnection('gmail', { accessToken: 'x' }, { now: T + 30_004, leaseOwner: 'B' })),
        ).toBeInstanceOf(ConflictError);
        expect(await store.getConnection('gmail')).toMatchObject({ accessToken: 'b1' });
      });

      it('concurrent acquirers: exactly one wins', async () => {
        const results = await Promise.all(
          ['A', 'B', 'C', 'D', 'E'].map((o) => store.acquireRefreshLease('gmail', o, 30_000, T)),
        );
        const winners = results.filter((r) => r !== null);
        expect(winners).toHaveLength(1);
        expect((await store.getConnection('gmail'))?.leaseOwner).toBe(winners[0]?.leaseOwner);
      });
    });

    describe('flows', () => {
      it('create, get, find by state; secrets round-trip', async () => {
        const f = await store.createFlow(newFlow('f1', { askedVia: ['ops'] }));
        expect(f).toMatchObject({
          id: 'f1',
          status: 'open',
          codeVerifier: 'verifier-f1',
          nonce: 'nonce-f1',
          deviceCode: null,
          askedVia: ['ops'],
          remindedAt: null,
          completedAt: null,
          outcome: null,
        });
        expect(await store.getFlow('f1')).toEqual(f);
        expect(await store.findFlowByState('state-f1')).toEqual(f);
        expect(await store.findFlowByState('forged')).toBeNull();
        expect(await store.getFlow('nope')).toBeNull();
        const d = await store.createFlow(
          newFlow('d1', { kind: 'device_code', state: null, codeVerifier: null, deviceCode: 'dev-code', interval: 5 }),
        );
        expect(d).toMatchObject({ kind: 'device_code', state: null, deviceCode: 'dev-code', interval: 5 });
      });

      it('state is unique among flows', async () => {
        await store.createFlow(newFlow('f1'));
        expect(await rejection(store.createFlow(newFlow('f2', { state: 'state-f1' })))).toBeInstanceOf(ConflictError);
        // Flows without state (device code) do not collide.
        await store.createFlow(newFlow('d1', { state: null }));
        await store.createFlow(newFlow('d2', { state: null }));
      });

      it('lists open flows newest first, by connection', async () => {
        await store.createFlow(newFlow('f1', { createdAt: T }));
        await store.createFlow(newFlow('f2', { createdAt: T + 1 }));
        await store.createFlow(newFlow('o1', { connection: 'outlook', createdAt: T + 2 }));
        expect((await store.listOpenFlows()).map((f) => f.id)).toEqual(['o1', 'f2', 'f1']);
        expect((await store.listOpenFlows('gmail')).map((f) => f.id)).toEqual(['f2', 'f1']);
        await store.finishFlow('f2', 'cancelled', T + 3, 'superseded');
        expect((await store.listOpenFlows('gmail')).map((f) => f.id)).toEqual(['f1']);
        expect((await store.listFlows({ connection: 'gmail' })).map((f) => f.id)).toEqual(['f2', 'f1']);
        expect((await store.listFlows({ limit: 2 })).map((f) => f.id)).toEqual(['o1', 'f2']);
      });

      it('finishFlow is single-use', async () => {
        await store.createFlow(newFlow('f1'));
        expect(await store.finishFlow('f1', 'completed', T + 5, 'completed via telegram')).toBe(true);
        expect(await store.finishFlow('f1', 'completed', T + 6, 'again')).toBe(false);
        expect(await store.finishFlow('f1', 'expired', T + 7, null)).toBe(false);
        expect(await store.getFlow('f1')).toMatchObject({
          status: 'completed',
          completedAt: T + 5,
          outcome: 'completed via telegram',
        });
        expect(await store.finishFlow('nope', 'completed', T, null)).toBe(false);
      });

      it('concurrent finishers: exactly one wins', async () => {
        await store.createFlow(newFlow('f1'));
        const results = await Promise.all(
          [1, 2, 3, 4, 5].map((i) => store.finishFlow('f1', 'completed', T + i, `${i}`)),
        );
        expect(results.filter(Boolean)).toHaveLength(1);
      });

      it('updateFlow changes only the patched fields', async () => {
        const f = await store.createFlow(newFlow('f1'));
        const u = await store.updateFlow('f1', { askedVia: ['ops', 'email'], remindedAt: T + 60_000 });
        expect(u).toEqual({ ...f, askedVia: ['ops', 'email'], remindedAt: T + 60_000 });
        const v = await store.updateFlow('f1', { url: 'https://auth.example/new', expiresAt: T + 1, outcome: 'x' });
        expect(v).toEqual({ ...u, url: 'https://auth.example/new', expiresAt: T + 1, outcome: 'x' });
        expect(await rejection(store.updateFlow('nope', { remindedAt: T }))).toBeInstanceOf(NotFoundError);
      });
    });

    describe('events', () => {
      it('appends with increasing ids and lists them', async () => {
        const e1 = await store.appendEvent(
          { type: 'refreshed', connection: 'gmail', message: 'refreshed', data: { expiresIn: 3600 } },
          T,
        );
        const e2 = await store.appendEvent(
          { type: 'probe_ok', connection: 'outlook', message: 'ok', data: null },
          T + 1,
        );
        const e3 = await store.appendEvent(
          { type: 'refresh_failed', connection: 'gmail', message: 'timeout', data: null, at: T - 5 },
          T + 2,
        );
        expect(e1).toEqual({
          id: e1.id,
          at: T,
          type: 'refreshed',
          connection: 'gmail',
          message: 'refreshed',
          data: { expiresIn: 3600 },
        });
        expect(e3.at).toBe(T - 5);
        expect(e2.id).toBeGreaterThan(e1.id);
        expect(e3.id).toBeGreaterThan(e2.id);

        expect(await store.listEvents()).toEqual([e1, e2, e3]);
        expect(await store.listEvents({ since: e1.id })).toEqual([e2, e3]);
        expect(await store.listEvents({ connection: 'gmail' })).toEqual([e1, e3]);
        expect(await store.listEvents({ newestFirst: true })).toEqual([e3, e2, e1]);
        expect(await store.listEvents({ newestFirst: true, limit: 2 })).toEqual([e3, e2]);
        expect(await store.listEvents({ limit: 1, since: e1.id })).toEqual([e2]);
      });

      it('limits to 100 by default', async () => {
        for (let i = 0; i < 105; i++) {
          await store.appendEvent({ type: 'probe_ok', connection: null, message: `${i}`, data: null }, T + i);
        }
        const page = await store.listEvents();
        expect(page).toHaveLength(100);
        expect(page[0]?.message).toBe('0');
      });
    });

    describe('outbox', () => {
      it('enqueue is idempotent per (mailbox, idempotencyKey)', async () => {
        const first = await store.enqueueMessage(newMessage('m1'), T);
        expect(first.created).toBe(true);
        expect(first.record).toMatchObject({
          id: 'm1',
          status: 'pending',
          attempts: 0,
          nextAttemptAt: T,
          payload: newMessage('m1').payload,
          leaseOwner: null,
          sentAt: null,
        });
        const dup = await store.enqueueMessage(
          newMessage('m2', { idempotencyKey: 'idem-m1', payload: 'other' }),
          T + 1,
        );
        expect(dup).toEqual({ record: first.record, created: false });
        expect(await store.getMessage('m2')).toBeNull();
        const other = await store.enqueueMessage(newMessage('m3', { mailbox: 'ops', idempotencyKey: 'idem-m1' }), T);
        expect(other.created).toBe(true);
        expect(await store.getMessage('m1')).toEqual(first.record);
      });

      it('claims only due messages, up to the limit, per mailbox', async () => {
        await store.enqueueMessage(newMessage('m1', { createdAt: T }), T);
        await store.enqueueMessage(newMessage('m2', { createdAt: T + 1 }), T + 1);
        await store.enqueueMessage(newMessage('m3', { createdAt: T + 2 }), T + 2);
        await store.enqueueMessage(newMessage('x1', { mailbox: 'ops' }), T);
        await store.updateMessage('m3', { nextAttemptAt: T + 60_000, attempts: 1 }, {});

        const claimed = await store.claimMessages({
          owner: 'W1',
          now: T + 10,
          leaseMs: 30_000,
          limit: 1,
          mailbox: 'agent',
        });
        expect(claimed.map((m) => m.id)).toEqual(['m1']);
        expect(claimed[0]).toMatchObject({ status: 'sending', leaseOwner: 'W1', leaseUntil: T + 30_010 });
        expect(claimed[0]?.payload).toBe(newMessage('m1').payload);

        const rest = await store.claimMessages({
          owner: 'W2',
          now: T + 10,
          leaseMs: 30_000,
          limit: 10,
          mailbox: 'agent',
        });
        expect(rest.map((m) => m.id)).toEqual(['m2']); // m1 is leased, m3 not due
        const later = await store.claimMessages({
          owner: 'W2',
          now: T + 60_000,
          leaseMs: 1000,
          limit: 10,
          mailbox: 'agent',
        });
        // m1 and m2 leases expired (crashed senders) and m3 is now due.
        expect(later.map((m) => m.id).sort()).toEqual(['m1', 'm2', 'm3']);
        expect(later.every((m) => m.leaseOwner === 'W2')).toBe(true);
        const all = await store.claimMessages({ owner: 'W3', now: T + 60_000, leaseMs: 1000, limit: 10 });
        expect(all.map((m) => m.id)).toEqual(['x1']);
      });

      it('a claimed message is updated only by its lease owner', async () => {
        await store.enqueueMessage(newMessage('m1'), T);
        await store.claimMessages({ owner: 'W1', now: T, leaseMs: 30_000, limit: 10 });
        expect(await store.updateMessage('m1', { lastError: 'nope' }, { owner: 'W2' })).toBeNull();
        const updated = await store.updateMessage('m1', { attempts: 1, route: 'gmail' }, { owner: 'W1' });
        expect(updated).toMatchObject({ attempts: 1, route: 'gmail', status: 'sending', lastError: null });

        // W1 stalls past its lease; W2 takes the message over; W1 may no longer write.
        await store.claimMessages({ owner: 'W2', now: T + 30_000, leaseMs: 30_000, limit: 10 });
        expect(await store.updateMessage('m1', { status: 'sent', sentAt: T + 30_001 }, { owner: 'W1' })).toBeNull();
        const sent = await store.updateMessage('m1', { status: 'sent', sentAt: T + 30_002 }, { owner: 'W2' });
        expect(sent).toMatchObject({ status: 'sent', sentAt: T + 30_002, route: 'gmail' });
        // Sent messages are never claimed again.
        expect(await store.claimMessages({ owner: 'W3', now: T + 1e9, leaseMs: 1, limit: 10 })).toEqual([]);
        expect(await store.updateMessage('nope', { attempts: 1 }, {})).toBeNull();
      });

      it('lists and counts messages', async () => {
        await store.enqueueMessage(newMessage('m1', { createdAt: T + 5 }), T + 5);
        await store.enqueueMessage(newMessage('m2', { createdAt: T + 3 }), T + 3);
        await store.enqueueMessage(newMessage('m3', { createdAt: T + 1 }), T + 1);
        await store.enqueueMessage(newMessage('x1', { mailbox: 'ops', createdAt: T }), T);
        await store.updateMessage('m3', { status: 'sent', sentAt: T + 9 }, {});
        await store.updateMessage('x1', { status: 'failed', lastError: 'rejected' }, {});
        await store.claimMessages({ owner: 'W', now: T + 10, leaseMs: 1000, limit: 1, mailbox: 'agent' }); // m2

        expect(await store.outboxStats()).toEqual({
          pending: 1,
          sending: 1,
          sent: 1,
          failed: 1,
          oldestPendingAt: T + 3,
        });
        expect(await store.outboxStats('ops')).toEqual({
          pending: 0,
          sending: 0,
          sent: 0,
          failed: 1,
          oldestPendingAt: null,
        });
        const ids = (msgs: { id: string }[]): string[] => msgs.map((m) => m.id).sort();
        expect(ids(await store.listMessages())).toEqual(['m1', 'm2', 'm3', 'x1']);
        expect(ids(await store.listMessages({ mailbox: 'agent' }))).toEqual(['m1', 'm2', 'm3']);
        expect(ids(await store.listMessages({ status: 'sending' }))).toEqual(['m2']);
        expect(await store.listMessages({ limit: 2 })).toHaveLength(2);
      });
    });

    describe('leader leases', () => {
      it('acquire, contend, renew, expire, release', async () => {
        expect(await store.getLease('telegram:bot1')).toBeNull();
        expect(await store.acquireLease('telegram:bot1', 'A', 10_000, T)).toBe(true);
        expect(await store.acquireLease('telegram:bot1', 'B', 10_000, T + 1)).toBe(false);
        expect(await store.acquireLease('telegram:bot1', 'A', 10_000, T + 5000)).toBe(true);
        expect(await store.getLease('telegram:bot1')).toEqual({ owner: 'A', until: T + 15_000 });
        expect(await store.acquireLease('telegram:bot1', 'B', 10_000, T + 14_999)).toBe(false);
        expect(await store.acquireLease('telegram:bot1', 'B', 10_000, T + 15_000)).toBe(true);
        expect(await store.getLease('telegram:bot1')).toEqual({ owner: 'B', until: T + 25_000 });
        expect(await store.acquireLease('telegram:bot2', 'A', 10_000, T + 15_000)).toBe(true);
        await store.releaseLease('telegram:bot1', 'A'); // not A's any more
        expect((await store.getLease('telegram:bot1'))?.owner).toBe('B');
        await store.releaseLease('telegram:bot1', 'B');
        expect(await store.getLease('telegram:bot1')).toBeNull();
        expect(await store.acquireLease('telegram:bot1', 'A', 10_000, T + 16_000)).toBe(true);
      });

      it('concurrent acquirers: exactly one holds it', async () => {
        const got = await Promise.all(['A', 'B', 'C', 'D'].map((o) => store.acquireLease('sweep', o, 10_000, T)));
        expect(got.filter(Boolean)).toHaveLength(1);
      });
    });

    describe('persistence', () => {
      it('keeps everything across close and reopen', async () => {
        if (!fx.reopen) return;
        await store.ensureConnection('gmail', T);
        await store.updateConnection('gmail', { refreshToken: 'rt-persist', cause: CAUSE }, { now: T });
        await store.createFlow(newFlow('f1'));
        const ev = await store.appendEvent({ type: 'authorized', connection: 'gmail', message: 'ok', data: null }, T);
        await store.enqueueMessage(newMessage('m1'), T);
        await store.acquireLease('leader', 'A', 10_000, T);
        const before = await store.getConnection('gmail');
        await store.close();
        closed = true;

        store = await fx.reopen();
        closed = false;
        expect(await store.getConnection('gmail')).toEqual(before);
        expect(await store.findFlowByState('state-f1')).toMatchObject({ id: 'f1', codeVerifier: 'verifier-f1' });
        expect(await store.listEvents()).toEqual([ev]);
        expect((await store.getMessage('m1'))?.payload).toBe(newMessage('m1').payload);
        expect(await store.getLease('leader')).toEqual({ owner: 'A', until: T + 10_000 });
        const next = await store.appendEvent({ type: 'probe_ok', connection: null, message: 'x', data: null }, T);
        expect(next.id).toBeGreaterThan(ev.id);
      });
    });
  });
}
