/**
 * The human's time, on a FakeClock driving the real scheduler loop and orchestrator over a real
 * store and a real oidc-provider: predictive renewal shifted out of quiet hours with zero
 * downtime, reminders escalating through `notify` in order, expired links replaced, a dead
 * credential not waiting for morning, and the recovery notice.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Channel, ChannelMessage } from '../../src/channels/types.js';
import { FakeClock } from '../../src/core/clock.js';
import type { WardenEvent } from '../../src/core/types.js';
import { createOrchestrator, type ReauthOrchestrator } from '../../src/reauth/orchestrator.js';
import { createScheduler, type Scheduler } from '../../src/reauth/scheduler.js';
import type { FlowRecord } from '../../src/store/types.js';
import { openWarden, type Warden, partsOf } from '../../src/warden.js';
import { makeWorkspace, type Workspace } from '../helpers/workspace.js';
import { startOidcProvider, type OidcPeer } from '../peers/oidc-provider.js';

interface Inbox extends Channel {
  sent: ChannelMessage[];
  /** Resolves once `n` messages have arrived in total. */
  waitFor(n: number): Promise<void>;
}

/** Where the human would read messages: records them (the Telegram path itself is proven in test/daemon). */
function inbox(name: string): Inbox {
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const box: Inbox = {
    name,
    type: 'inbox',
    twoWay: false,
    sent: [],
    send(msg) {
      box.sent.push(msg);
      for (const w of waiters.filter((x) => box.sent.length >= x.n)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
      return Promise.resolve({});
    },
    waitFor(n) {
      if (box.sent.length >= n) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ n, resolve }));
    },
  };
  return box;
}

const utc = (s: string): number => Date.parse(`${s}Z`);
const DAY = 86_400_000;

let oidc: OidcPeer;
let ws: Workspace;
let clock: FakeClock;
let warden: Warden;
let orch: ReauthOrchestrator;
let scheduler: Scheduler;
let phone: Inbox;
let pager: Inbox;

/** Move the fake time to `t` and let the scheduler finish what became due. */
async function at(t: number): Promise<void> {
  await clock.advance(t - clock.now());
  await scheduler.settled();
}

function events(type: string, conn: string): Promise<WardenEvent[]> {
  return partsOf(warden)
    .store.listEvents({ connection: conn, limit: 1000 })
    .then((es) => es.filter((e) => e.type === type));
}

beforeAll(async () => {
  // Tokens outlive the fake weeks below: this file is about the human's time, not refreshing.
  oidc = await startOidcProvider({
    redirectUris: ['http://127.0.0.1:9/oauth/callback'],
    accessTokenTtl: 60 * 86400,
    refreshTokenTtl: 90 * 86400,
  });
  const common = {
    provider: 'oidc',
    issuer: oidc.issuer,
    client_id: oidc.clientId,
    client_secret: oidc.clientSecret,
    redirect_uri: 'http://127.0.0.1:9/oauth/callback',
    scopes: ['openid', 'offline_access', 'api:read'],
    flow: 'auth_code',
    notify: ['phone', 'pager'],
    quiet_hours: '22:00-07:30 Europe/Berlin',
  };
  ws = makeWorkspace({});
  ws.writeConfig({
    channels: { phone: { type: 'console' }, pager: { type: 'console' } },
    connections: {
      // Google-testing-like: the refresh token dies 7 days after consent.
      mail: { ...common, refresh_token_ttl: '7d', reauth_lead: '24h', remind_after: '10m' },
      ops: { ...common, remind_after: '4m' },
    },
  });
  // Sunday 5 January 2026, 23:00 in Berlin.
  clock = new FakeClock(utc('2026-01-05T22:00:00'));
  warden = await openWarden({ configPath: ws.configPath, clock });
  phone = inbox('phone');
  pager = inbox('pager');
  orch = createOrchestrator(partsOf(warden), {
    channels: new Map<string, Channel>([
      ['phone', phone],
      ['pager', pager],
    ]),
    clock,
  });
  await orch.start();
  for (const name of ['mail', 'ops'])
    await partsOf(warden).keeper.storeGrant(
      name,
      { accessToken: `at-${name}`, tokenType: 'Bearer', refreshToken: `rt-${name}`, expiresAt: clock.now() + 60 * DAY },
      { account: 'alice' },
    );
  scheduler = createScheduler(partsOf(warden), orch, { clock, probeIntervalMs: 0, rescanMs: DAY });
  scheduler.start();
  await scheduler.settled();
});

afterAll(async () => {
  await scheduler?.stop();
  await orch?.stop();
  await warden?.close();
  await oidc?.stop();
  ws?.cleanup();
});

describe('predictive renewal', () => {
  it('plans the renewal 24 h before the predicted death, moved out of quiet hours', async () => {
    const row = await partsOf(warden).store.getConnection('mail');
    expect(row?.refreshExpiresAt).toBe(utc('2026-01-12T22:00:00'));
    // Nominally Sunday 11 January 23:00 Berlin (quiet) → Monday 07:30 Berlin.
    expect(orch.renewalAt('mail', row as NonNullable<typeof row>)).toBe(utc('2026-01-12T06:30:00'));
    await at(utc('2026-01-11T22:05:00'));
    expect(phone.sent).toEqual([]);
    await at(utc('2026-01-12T06:29:00'));
    expect(phone.sent).toEqual([]);
  });

  it('opens a renewal flow at 07:30; the connection keeps serving (expiring) meanwhile', async () => {
    await at(utc('2026-01-12T06:30:00'));
    await phone.waitFor(1);
    expect(phone.sent[0]).toMatchObject({ kind: 'reauth_request', connection: 'mail' });
    expect(phone.sent[0]?.cause).toBe(
      'The refresh token is predicted to die at 2026-01-12 22:00 UTC; renewing now avoids any gap.',
    );
    expect(phone.sent[0]?.fallbacks).toEqual(['mail itself, until then']);
    expect(pager.sent).toEqual([]);
    expect((await partsOf(warden).store.getConnection('mail'))?.state).toBe('expiring');
    expect(await warden.accessToken('mail')).toBe('at-mail');
    const [flow] = await partsOf(warden).store.listOpenFlows('mail');
    expect(flow).toMatchObject({ reason: 'predicted', askedVia: ['phone'] });
  });

  it('after remind_after with no answer: a fresh link, escalated to the next channel', async () => {
    const before = (await partsOf(warden).store.listOpenFlows('mail'))[0] as FlowRecord;
    await at(utc('2026-01-12T06:40:00'));
    await pager.waitFor(1);
    expect(phone.sent.at(-1)).toMatchObject({ kind: 'reminder', connection: 'mail' });
    expect(pager.sent[0]).toMatchObject({ kind: 'reminder', connection: 'mail' });
    expect(pager.sent[0]?.text).toMatch(/previous link expired unused/);
    const [flow] = await partsOf(warden).store.listOpenFlows('mail');
    expect(flow?.id).not.toBe(before.id);
    expect(flow?.askedVia).toEqual(['phone', 'pager']);
    expect((await events('reauth_reminded', 'mail')).length).toBe(1);
  });

  it('the human answers: the new grant replaces the old with no gap, and both channels hear it', async () => {
    const [flow] = await partsOf(warden).store.listOpenFlows('mail');
    const phoneBefore = phone.sent.length;
    const done = await orch.complete(await oidc.approveAuthorization((flow as FlowRecord).url), { via: 'api' });
    expect(done).toMatchObject({ connection: 'mail', account: 'alice' });
    await phone.waitFor(phoneBefore + 1);
    await pager.waitFor(2);
    expect(phone.sent.at(-1)).toMatchObject({ kind: 'recovered', connection: 'mail' });
    expect(phone.sent.at(-1)?.text).toMatch(/Renewed ahead of expiry as alice/);
    const row = await partsOf(warden).store.getConnection('mail');
    expect(row?.state).toBe('healthy');
    expect(row?.refreshExpiresAt).toBe(clock.now() + 7 * DAY);
    const token = await warden.accessToken('mail');
    expect(token).not.toBe('at-mail');
    expect((await oidc.introspect(token)).active).toBe(true);
  });

  it('reminders of a predicted renewal wait for the end of quiet hours', () => {
    const flow = {
      createdAt: utc('2026-01-12T20:55:00'),
      remindedAt: null,
      expiresAt: utc('2026-01-12T21:05:00'),
      connection: 'mail',
    } as FlowRecord;
    expect(orch.followUpAt(flow, 'predicted')).toBe(utc('2026-01-13T06:30:00'));
    expect(orch.followUpAt(flow, 'dead')).toBe(utc('2026-01-12T21:05:00'));
  });
});

describe('a dead credential', () => {
  it('does not wait for morning, and reminders escalate through notify in order', async () => {
    await at(utc('2026-01-12T22:30:00')); // 23:30 in Berlin
    const p0 = phone.sent.length;
    const g0 = pager.sent.length;
    await partsOf(warden).keeper.markReauthRequired('ops', {
      id: 'revoked',
      summary: 'The grant was revoked.',
      fix: 'Re-authorize.',
    });
    await phone.waitFor(p0 + 1);
    expect(phone.sent.at(-1)).toMatchObject({ kind: 'reauth_request', connection: 'ops' });
    expect(pager.sent.length).toBe(g0);
    expect((await partsOf(warden).store.getConnection('ops'))?.state).toBe('awaiting_human');

    // remind_after (4 min) passes: remind the phone, escalate to the pager — at night.
    await at(utc('2026-01-12T22:34:00'));
    await pager.waitFor(g0 + 1);
    expect(phone.sent.at(-1)).toMatchObject({ kind: 'reminder', connection: 'ops' });
    expect(pager.sent.at(-1)).toMatchObject({ kind: 'reauth_request', connection: 'ops' });
    const [reminded] = (await events('reauth_reminded', 'ops')).slice(-1);
    expect(reminded?.data).toMatchObject({ escalatedTo: ['pager'] });
    const [flow] = await partsOf(warden).store.listOpenFlows('ops');
    expect(flow?.askedVia).toEqual(['phone', 'pager']);

    // The caller's side meanwhile: fails fast, naming where the human was asked.
    const err = await warden.accessToken('ops').catch((e: unknown) => e as Error);
    expect(err).toMatchObject({ code: 'TW_REAUTH_REQUIRED', reauth: { askedVia: ['phone', 'pager'] } });

    // Another remind_after: both asked channels are reminded.
    const p1 = phone.sent.length;
    const g1 = pager.sent.length;
    await at(utc('2026-01-12T22:38:00'));
    await Promise.all([phone.waitFor(p1 + 1), pager.waitFor(g1 + 1)]);
    expect([phone.sent.at(-1)?.kind, pager.sent.at(-1)?.kind]).toEqual(['reminder', 'reminder']);

    // The link expires (10 min) unanswered: a fresh one goes to everyone asked so far, saying why.
    await at(utc('2026-01-12T22:40:00'));
    await Promise.all([phone.waitFor(p1 + 2), pager.waitFor(g1 + 2)]);
    for (const box of [phone, pager]) {
      expect(box.sent.at(-1)).toMatchObject({ kind: 'reauth_request', connection: 'ops' });
      expect(box.sent.at(-1)?.text).toMatch(/previous link expired unused/);
    }
    const [fresh] = await partsOf(warden).store.listOpenFlows('ops');
    expect(fresh?.id).not.toBe(flow?.id);
    expect(fresh?.expiresAt).toBe(clock.now() + 10 * 60_000);
  });

  it('sleeps until the next due time instead of polling', async () => {
    const before = { ...scheduler.counts };
    await at(clock.now() + 60_000);
    expect(scheduler.counts).toEqual(before);
  });
});
