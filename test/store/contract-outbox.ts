/**
 * The outbox and leader leases. Part of the Store contract (contract.ts).
 */
import { describe, expect, it } from 'vitest';

import type { Store } from '../../src/store/types.js';
import { newMessage, T } from './contract-fixtures.js';

export function outboxAndLeaseContract(s: () => Store): void {
  describe('outbox', () => {
    it('enqueue is idempotent per (mailbox, idempotencyKey)', async () => {
      const first = await s().enqueueMessage(newMessage('m1'), T);
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
      const dup = await s().enqueueMessage(newMessage('m2', { idempotencyKey: 'idem-m1', payload: 'other' }), T + 1);
      expect(dup).toEqual({ record: first.record, created: false });
      expect(await s().getMessage('m2')).toBeNull();
      const other = await s().enqueueMessage(newMessage('m3', { mailbox: 'ops', idempotencyKey: 'idem-m1' }), T);
      expect(other.created).toBe(true);
      expect(await s().getMessage('m1')).toEqual(first.record);
    });

    it('claims only due messages, up to the limit, per mailbox', async () => {
      await s().enqueueMessage(newMessage('m1', { createdAt: T }), T);
      await s().enqueueMessage(newMessage('m2', { createdAt: T + 1 }), T + 1);
      await s().enqueueMessage(newMessage('m3', { createdAt: T + 2 }), T + 2);
      await s().enqueueMessage(newMessage('x1', { mailbox: 'ops' }), T);
      await s().updateMessage('m3', { nextAttemptAt: T + 60_000, attempts: 1 }, {});

      const claimed = await s().claimMessages({
        owner: 'W1',
        now: T + 10,
        leaseMs: 30_000,
        limit: 1,
        mailbox: 'agent',
      });
      expect(claimed.map((m) => m.id)).toEqual(['m1']);
      expect(claimed[0]).toMatchObject({ status: 'sending', leaseOwner: 'W1', leaseUntil: T + 30_010 });
      expect(claimed[0]?.payload).toBe(newMessage('m1').payload);

      const rest = await s().claimMessages({
        owner: 'W2',
        now: T + 10,
        leaseMs: 30_000,
        limit: 10,
        mailbox: 'agent',
      });
      expect(rest.map((m) => m.id)).toEqual(['m2']); // m1 is leased, m3 not due
      const later = await s().claimMessages({
        owner: 'W2',
        now: T + 60_000,
        leaseMs: 1000,
        limit: 10,
        mailbox: 'agent',
      });
      // m1 and m2 leases expired (crashed senders) and m3 is now due.
      expect(later.map((m) => m.id).sort()).toEqual(['m1', 'm2', 'm3']);
      expect(later.every((m) => m.leaseOwner === 'W2')).toBe(true);
      const all = await s().claimMessages({ owner: 'W3', now: T + 60_000, leaseMs: 1000, limit: 10 });
      expect(all.map((m) => m.id)).toEqual(['x1']);
    });

    it('enqueue with a claim stores the new row already claimed; an existing row is returned untouched', async () => {
      const born = await s().enqueueMessage(newMessage('m1'), T, { claim: { owner: 'W1', leaseMs: 30_000 } });
      expect(born.created).toBe(true);
      expect(born.record).toMatchObject({
        id: 'm1',
        status: 'sending',
        attempts: 0,
        nextAttemptAt: T,
        leaseOwner: 'W1',
        leaseUntil: T + 30_000,
        payload: newMessage('m1').payload,
        route: null,
        lastError: null,
        sentAt: null,
      });
      // What enqueue answered is what is stored.
      expect(await s().getMessage('m1')).toEqual(born.record);
      // Held by W1: nobody else claims it while the lease runs; its owner may update it.
      expect(await s().claimMessages({ owner: 'W2', now: T + 29_999, leaseMs: 1000, limit: 10 })).toEqual([]);
      expect(await s().updateMessage('m1', { attempts: 1 }, { owner: 'W2' })).toBeNull();
      expect(await s().updateMessage('m1', { attempts: 1 }, { owner: 'W1' })).toMatchObject({ attempts: 1 });
      // A second enqueue with the same key (another sender) gets the row as it is, not claimed anew.
      const dup = await s().enqueueMessage(newMessage('m2', { idempotencyKey: 'idem-m1' }), T + 5, {
        claim: { owner: 'W2', leaseMs: 30_000 },
      });
      expect(dup.created).toBe(false);
      expect(dup.record).toMatchObject({ id: 'm1', leaseOwner: 'W1', leaseUntil: T + 30_000, attempts: 1 });
      // The claim expires like any other (a crashed sender): the row is due again.
      const later = await s().claimMessages({ owner: 'W2', now: T + 30_000, leaseMs: 1000, limit: 10 });
      expect(later.map((m) => m.id)).toEqual(['m1']);
      // Without a claim the row is pending, as before.
      const plain = await s().enqueueMessage(newMessage('m3'), T);
      expect(plain.record).toMatchObject({ status: 'pending', leaseOwner: null, leaseUntil: null });
      expect(await s().getMessage('m3')).toEqual(plain.record);
    });

    it('claims one message by id, only if it is due', async () => {
      await s().enqueueMessage(newMessage('m1', { createdAt: T }), T);
      await s().enqueueMessage(newMessage('m2', { createdAt: T + 1 }), T + 1);
      await s().enqueueMessage(newMessage('m3', { createdAt: T + 2 }), T + 2);
      await s().updateMessage('m3', { nextAttemptAt: T + 60_000, attempts: 1 }, {});
      const one = await s().claimMessages({ owner: 'W1', now: T + 10, leaseMs: 30_000, limit: 10, id: 'm2' });
      expect(one.map((m) => m.id)).toEqual(['m2']);
      expect(one[0]).toMatchObject({ status: 'sending', leaseOwner: 'W1', leaseUntil: T + 30_010 });
      // m1 (older, also due) was left alone.
      expect(await s().getMessage('m1')).toMatchObject({ status: 'pending', leaseOwner: null });
      // Held, not due, absent, or in another mailbox: nothing.
      expect(await s().claimMessages({ owner: 'W2', now: T + 10, leaseMs: 1000, limit: 10, id: 'm2' })).toEqual([]);
      expect(await s().claimMessages({ owner: 'W2', now: T + 10, leaseMs: 1000, limit: 10, id: 'm3' })).toEqual([]);
      expect(await s().claimMessages({ owner: 'W2', now: T + 10, leaseMs: 1000, limit: 10, id: 'nope' })).toEqual([]);
      expect(
        await s().claimMessages({ owner: 'W2', now: T + 10, leaseMs: 1000, limit: 10, id: 'm1', mailbox: 'ops' }),
      ).toEqual([]);
      const m1 = await s().claimMessages({
        owner: 'W2',
        now: T + 10,
        leaseMs: 1000,
        limit: 10,
        id: 'm1',
        mailbox: 'agent',
      });
      expect(m1.map((m) => m.id)).toEqual(['m1']);
    });

    it('a claimed message is updated only by its lease owner', async () => {
      await s().enqueueMessage(newMessage('m1'), T);
      await s().claimMessages({ owner: 'W1', now: T, leaseMs: 30_000, limit: 10 });
      expect(await s().updateMessage('m1', { lastError: 'nope' }, { owner: 'W2' })).toBeNull();
      const updated = await s().updateMessage('m1', { attempts: 1, route: 'gmail' }, { owner: 'W1' });
      expect(updated).toMatchObject({ attempts: 1, route: 'gmail', status: 'sending', lastError: null });

      // W1 stalls past its lease; W2 takes the message over; W1 may no longer write.
      await s().claimMessages({ owner: 'W2', now: T + 30_000, leaseMs: 30_000, limit: 10 });
      expect(await s().updateMessage('m1', { status: 'sent', sentAt: T + 30_001 }, { owner: 'W1' })).toBeNull();
      const sent = await s().updateMessage('m1', { status: 'sent', sentAt: T + 30_002 }, { owner: 'W2' });
      expect(sent).toMatchObject({ status: 'sent', sentAt: T + 30_002, route: 'gmail' });
      // Sent messages are never claimed again.
      expect(await s().claimMessages({ owner: 'W3', now: T + 1e9, leaseMs: 1, limit: 10 })).toEqual([]);
      expect(await s().updateMessage('nope', { attempts: 1 }, {})).toBeNull();
    });

    it('lists and counts messages', async () => {
      await s().enqueueMessage(newMessage('m1', { createdAt: T + 5 }), T + 5);
      await s().enqueueMessage(newMessage('m2', { createdAt: T + 3 }), T + 3);
      await s().enqueueMessage(newMessage('m3', { createdAt: T + 1 }), T + 1);
      await s().enqueueMessage(newMessage('x1', { mailbox: 'ops', createdAt: T }), T);
      await s().updateMessage('m3', { status: 'sent', sentAt: T + 9 }, {});
      await s().updateMessage('x1', { status: 'failed', lastError: 'rejected' }, {});
      await s().claimMessages({ owner: 'W', now: T + 10, leaseMs: 1000, limit: 1, mailbox: 'agent' }); // m2

      expect(await s().outboxStats()).toEqual({
        pending: 1,
        sending: 1,
        sent: 1,
        failed: 1,
        oldestPendingAt: T + 3,
      });
      expect(await s().outboxStats('ops')).toEqual({
        pending: 0,
        sending: 0,
        sent: 0,
        failed: 1,
        oldestPendingAt: null,
      });
      const ids = (msgs: { id: string }[]): string[] => msgs.map((m) => m.id).sort();
      expect(ids(await s().listMessages())).toEqual(['m1', 'm2', 'm3', 'x1']);
      expect(ids(await s().listMessages({ mailbox: 'agent' }))).toEqual(['m1', 'm2', 'm3']);
      expect(ids(await s().listMessages({ status: 'sending' }))).toEqual(['m2']);
      expect(await s().listMessages({ limit: 2 })).toHaveLength(2);
    });
  });

  describe('leader leases', () => {
    it('acquire, contend, renew, expire, release', async () => {
      expect(await s().getLease('telegram:bot1')).toBeNull();
      expect(await s().acquireLease('telegram:bot1', 'A', 10_000, T)).toBe(true);
      expect(await s().acquireLease('telegram:bot1', 'B', 10_000, T + 1)).toBe(false);
      expect(await s().acquireLease('telegram:bot1', 'A', 10_000, T + 5000)).toBe(true);
      expect(await s().getLease('telegram:bot1')).toEqual({ owner: 'A', until: T + 15_000 });
      expect(await s().acquireLease('telegram:bot1', 'B', 10_000, T + 14_999)).toBe(false);
      expect(await s().acquireLease('telegram:bot1', 'B', 10_000, T + 15_000)).toBe(true);
      expect(await s().getLease('telegram:bot1')).toEqual({ owner: 'B', until: T + 25_000 });
      expect(await s().acquireLease('telegram:bot2', 'A', 10_000, T + 15_000)).toBe(true);
      await s().releaseLease('telegram:bot1', 'A'); // not A's any more
      expect((await s().getLease('telegram:bot1'))?.owner).toBe('B');
      await s().releaseLease('telegram:bot1', 'B');
      expect(await s().getLease('telegram:bot1')).toBeNull();
      expect(await s().acquireLease('telegram:bot1', 'A', 10_000, T + 16_000)).toBe(true);
    });

    it('concurrent acquirers: exactly one holds it', async () => {
      const got = await Promise.all(['A', 'B', 'C', 'D'].map((o) => s().acquireLease('sweep', o, 10_000, T)));
      expect(got.filter(Boolean)).toHaveLength(1);
    });
  });
}
