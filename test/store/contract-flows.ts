/**
 * Flows (single-use `state`) and events. Part of the Store contract (contract.ts).
 */
import { describe, expect, it } from 'vitest';

import { ConflictError, NotFoundError } from '../../src/core/errors.js';
import type { Store } from '../../src/store/types.js';
import { newFlow, rejection, T } from './contract-fixtures.js';

export function flowAndEventContract(s: () => Store): void {
  describe('flows', () => {
    it('create, get, find by state; secrets round-trip', async () => {
      const f = await s().createFlow(newFlow('f1', { askedVia: ['ops'] }));
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
      expect(await s().getFlow('f1')).toEqual(f);
      expect(await s().findFlowByState('state-f1')).toEqual(f);
      expect(await s().findFlowByState('forged')).toBeNull();
      expect(await s().getFlow('nope')).toBeNull();
      const d = await s().createFlow(
        newFlow('d1', { kind: 'device_code', state: null, codeVerifier: null, deviceCode: 'dev-code', interval: 5 }),
      );
      expect(d).toMatchObject({ kind: 'device_code', state: null, deviceCode: 'dev-code', interval: 5 });
    });

    it('state is unique among flows', async () => {
      await s().createFlow(newFlow('f1'));
      expect(await rejection(s().createFlow(newFlow('f2', { state: 'state-f1' })))).toBeInstanceOf(ConflictError);
      // Flows without state (device code) do not collide.
      await s().createFlow(newFlow('d1', { state: null }));
      await s().createFlow(newFlow('d2', { state: null }));
    });

    it('lists open flows newest first, by connection', async () => {
      await s().createFlow(newFlow('f1', { createdAt: T }));
      await s().createFlow(newFlow('f2', { createdAt: T + 1 }));
      await s().createFlow(newFlow('o1', { connection: 'outlook', createdAt: T + 2 }));
      expect((await s().listOpenFlows()).map((f) => f.id)).toEqual(['o1', 'f2', 'f1']);
      expect((await s().listOpenFlows('gmail')).map((f) => f.id)).toEqual(['f2', 'f1']);
      await s().finishFlow('f2', 'cancelled', T + 3, 'superseded');
      expect((await s().listOpenFlows('gmail')).map((f) => f.id)).toEqual(['f1']);
      expect((await s().listFlows({ connection: 'gmail' })).map((f) => f.id)).toEqual(['f2', 'f1']);
      expect((await s().listFlows({ limit: 2 })).map((f) => f.id)).toEqual(['o1', 'f2']);
    });

    it('finishFlow is single-use', async () => {
      await s().createFlow(newFlow('f1'));
      expect(await s().finishFlow('f1', 'completed', T + 5, 'completed via telegram')).toBe(true);
      expect(await s().finishFlow('f1', 'completed', T + 6, 'again')).toBe(false);
      expect(await s().finishFlow('f1', 'expired', T + 7, null)).toBe(false);
      expect(await s().getFlow('f1')).toMatchObject({
        status: 'completed',
        completedAt: T + 5,
        outcome: 'completed via telegram',
      });
      expect(await s().finishFlow('nope', 'completed', T, null)).toBe(false);
    });

    it('concurrent finishers: exactly one wins', async () => {
      await s().createFlow(newFlow('f1'));
      const results = await Promise.all([1, 2, 3, 4, 5].map((i) => s().finishFlow('f1', 'completed', T + i, `${i}`)));
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    it('updateFlow changes only the patched fields', async () => {
      const f = await s().createFlow(newFlow('f1'));
      const u = await s().updateFlow('f1', { askedVia: ['ops', 'email'], remindedAt: T + 60_000 });
      expect(u).toEqual({ ...f, askedVia: ['ops', 'email'], remindedAt: T + 60_000 });
      const v = await s().updateFlow('f1', { url: 'https://auth.example/new', expiresAt: T + 1, outcome: 'x' });
      expect(v).toEqual({ ...u, url: 'https://auth.example/new', expiresAt: T + 1, outcome: 'x' });
      expect(await rejection(s().updateFlow('nope', { remindedAt: T }))).toBeInstanceOf(NotFoundError);
    });
  });

  describe('events', () => {
    it('appends with increasing ids and lists them', async () => {
      const e1 = await s().appendEvent(
        { type: 'refreshed', connection: 'gmail', message: 'refreshed', data: { expiresIn: 3600 } },
        T,
      );
      const e2 = await s().appendEvent({ type: 'probe_ok', connection: 'outlook', message: 'ok', data: null }, T + 1);
      const e3 = await s().appendEvent(
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

      expect(await s().listEvents()).toEqual([e1, e2, e3]);
      expect(await s().listEvents({ since: e1.id })).toEqual([e2, e3]);
      expect(await s().listEvents({ connection: 'gmail' })).toEqual([e1, e3]);
      expect(await s().listEvents({ newestFirst: true })).toEqual([e3, e2, e1]);
      expect(await s().listEvents({ newestFirst: true, limit: 2 })).toEqual([e3, e2]);
      expect(await s().listEvents({ limit: 1, since: e1.id })).toEqual([e2]);
    });

    it('prunes by age and by count, oldest first; ids are not reused', async () => {
      const day = 86_400_000;
      const old: number[] = [];
      for (let i = 0; i < 5; i++)
        old.push(
          (await s().appendEvent({ type: 'probe_ok', connection: null, message: `old ${i}`, data: null }, T - 10 * day))
            .id,
        );
      const fresh: number[] = [];
      for (let i = 0; i < 8; i++)
        fresh.push(
          (await s().appendEvent({ type: 'probe_ok', connection: 'gmail', message: `new ${i}`, data: null }, T + i)).id,
        );
      // Age: the five old ones go, nothing newer.
      expect(await s().pruneEvents({ before: T - day, keep: 1_000 })).toBe(5);
      expect((await s().listEvents()).map((e) => e.id)).toEqual(fresh);
      // Count: the newest three stay.
      expect(await s().pruneEvents({ before: T - day, keep: 3 })).toBe(5);
      expect((await s().listEvents()).map((e) => e.message)).toEqual(['new 5', 'new 6', 'new 7']);
      expect(await s().pruneEvents({ before: T - day, keep: 3 })).toBe(0);
      // Keeping none empties the log, and the next id still follows the last one handed out.
      expect(await s().pruneEvents({ before: T - day, keep: 0 })).toBe(3);
      expect(await s().listEvents()).toEqual([]);
      const next = await s().appendEvent({ type: 'probe_ok', connection: null, message: 'after', data: null }, T);
      expect(next.id).toBeGreaterThan(Math.max(...old, ...fresh));
    });

    it('prunes in chunks until nothing is left to prune', async () => {
      for (let i = 0; i < 30; i++)
        await s().appendEvent({ type: 'probe_ok', connection: null, message: `${i}`, data: null }, T + i);
      // 10 by age (at < T + 10), then all but the newest 4 by count, 7 rows per statement.
      expect(await s().pruneEvents({ before: T + 10, keep: 4, chunk: 7 })).toBe(26);
      expect((await s().listEvents()).map((e) => e.message)).toEqual(['26', '27', '28', '29']);
    });

    it('limits to 100 by default', async () => {
      for (let i = 0; i < 105; i++) {
        await s().appendEvent({ type: 'probe_ok', connection: null, message: `${i}`, data: null }, T + i);
      }
      const page = await s().listEvents();
      expect(page).toHaveLength(100);
      expect(page[0]?.message).toBe('0');
    });
  });
}
