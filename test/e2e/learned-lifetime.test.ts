/**
 * Learned lifetimes, time compressed by a FakeClock: a grant's death teaches the rule that killed
 * it when nobody declared it. A Google app in Testing (refresh token refused with Google's exact
 * `invalid_grant` body 7 days after consent) and an organisation's session limit (deaths at a
 * consistent age on a generic provider). The lesson is kept in the store, survives a restart and
 * moves the one renewal plan that status, the HTTP API view, MCP and the scheduler share.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Channel, ChannelMessage } from '../../src/channels/types.js';
import { FakeClock } from '../../src/core/clock.js';
import { ReauthRequiredError } from '../../src/core/errors.js';
import { describeConnection } from '../../src/mcp/describe.js';
import { createOrchestrator } from '../../src/reauth/orchestrator.js';
import { isQuiet, parseQuietHours } from '../../src/reauth/quiet-hours.js';
import { connectionView } from '../../src/actions/status-view.js';
import { generateKey } from '../../src/store/key.js';
import { openWarden, type Warden, partsOf } from '../../src/warden.js';
import { startFakeHttp, type FakeHttp } from '../oauth/fake-http.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const REDIRECT = 'http://127.0.0.1:1/oauth/callback';
const GMAIL_SEND = 'https://www.googleapis.com/auth/gmail.send';
/** What Google's token endpoint answers for a refresh token past its life (HTTP 400). */
/** The scope Google returns for the grant (full names). */
const GRANTED = `openid https://www.googleapis.com/auth/userinfo.email ${GMAIL_SEND}`;
const GOOGLE_DEAD = { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' };

let fake: FakeHttp;
let dir: string;
const env = { TW_KEY: generateKey().toString('base64') };
const opened: Warden[] = [];

/**
 * A token endpoint whose refresh tokens die `lifeMs(n)` after the consent that issued grant n
 * (n = 1, 2, …), answering `dead` then — on the test's clock, like the provider's own rule.
 */
function tokenEndpoint(clock: FakeClock, lifeMs: (n: number) => number, dead: object, scope?: string): void {
  const consentOf = new Map<string, { at: number; n: number }>();
  fake.route('POST', '/token', (req) => {
    const grant = req.form.get('grant_type');
    if (grant === 'authorization_code') {
      const n = consentOf.size + 1;
      const rt = `1//rt-${n}`;
      consentOf.set(rt, { at: clock.now(), n });
      return {
        status: 200,
        body: {
          access_token: `ya29.a-${n}`,
          expires_in: 3599,
          token_type: 'Bearer',
          ...(scope ? { scope } : {}),
          refresh_token: rt,
        },
      };
    }
    const c = consentOf.get(req.form.get('refresh_token') ?? '');
    if (!c || clock.now() - c.at >= lifeMs(c.n)) return { status: 400, body: dead };
    return { status: 200, body: { access_token: `ya29.r-${clock.now()}`, expires_in: 3599, token_type: 'Bearer' } };
  });
}

async function open(clock: FakeClock, db: string, conn: Record<string, unknown>): Promise<Warden> {
  const w = await openWarden({
    config: {
      store: `sqlite:${db}`,
      key: 'env:TW_KEY',
      connections: {
        mail: {
          client_id: 'cid',
          client_secret: 'csecret',
          redirect_uri: REDIRECT,
          auth_url: `${fake.url}/auth`,
          token_url: `${fake.url}/token`,
          flow: 'auth_code',
          ...conn,
        },
      },
    },
    baseDir: dir,
    env,
    clock,
  });
  opened.push(w);
  return w;
}

/** The human consents: the flow's link, approved, and the address the browser ends on pasted back. */
async function consent(w: Warden): Promise<void> {
  const flow = await partsOf(w).flows.open('mail', { fresh: true });
  const state = new URL(flow.url).searchParams.get('state') ?? '';
  await partsOf(w).flows.completeFromInput(`${REDIRECT}?state=${state}&code=4/0Acode`, { via: 'test' });
}

/** Refresh now and return the diagnosis of the death (fails the test if the grant lived). */
async function death(w: Warden): Promise<ReauthRequiredError> {
  const err = await partsOf(w)
    .keeper.forceRefresh('mail')
    .then(
      () => null,
      (e: unknown) => e,
    );
  expect(err).toBeInstanceOf(ReauthRequiredError);
  return err as ReauthRequiredError;
}

async function statusOf(w: Warden) {
  const s = (await w.status()).find((c) => c.name === 'mail');
  if (!s) throw new Error('no status for mail');
  return s;
}

beforeAll(async () => {
  fake = await startFakeHttp();
  dir = mkdtempSync(join(tmpdir(), 'tw-learned-'));
});
afterEach(async () => {
  for (const w of opened.splice(0)) await w.close();
});
afterAll(async () => {
  await fake?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const google = { provider: 'google', scopes: ['openid', 'email', GMAIL_SEND] };

describe('Google app in Testing, not declared', () => {
  it('a death 7 days after consent is diagnosed as Testing (likely), and the next renewal comes before day 7, also after a restart', async () => {
    const clock = new FakeClock(Date.UTC(2026, 2, 2, 9, 30));
    tokenEndpoint(clock, () => 7 * DAY, GOOGLE_DEAD, GRANTED);
    const db = join(dir, 'google.db');
    const w = await open(clock, db, google);
    await consent(w);
    // Before the lesson: Google's documented rules only (6 months unused), the renewal far away.
    const before = await statusOf(w);
    expect(before.learned ?? null).toBeNull();
    expect(before.refreshExpiresAt).toBeGreaterThan(clock.now() + 100 * DAY);

    await clock.advance(3 * DAY);
    await partsOf(w).keeper.forceRefresh('mail'); // still alive on day 3
    await clock.advance(4 * DAY + 20 * 60_000); // 7 days and 20 minutes after consent
    const err = await death(w);
    expect(err.diagnosis).toMatchObject({
      id: 'google_testing_expiry',
      confidence: 'likely',
      providerError: 'invalid_grant',
      providerDescription: 'Token has been expired or revoked.',
    });
    expect(err.diagnosis.summary).toMatch(/most likely in Testing/);
    expect(err.diagnosis.fix).toMatch(/OAuth consent screen → Publish app/);
    expect(err.message).toMatch(/Publish app/);
    const dead = await statusOf(w);
    expect(dead.state).toBe('reauth_required');
    expect(dead.cause?.confidence).toBe('likely');

    // The human re-authorizes at 14:10 UTC; the next death is predicted 7 days later, the renewal
    // one day earlier at the same time of day (when the human was awake to consent).
    await clock.advance(4 * HOUR);
    await consent(w);
    const granted = clock.now();
    const s = await statusOf(w);
    expect(s.state).toBe('healthy');
    expect(s.refreshExpiresAt).toBe(granted + 7 * DAY);
    expect(s.plannedRenewalAt).toBe(granted + 6 * DAY);
    expect(s.learned).toMatchObject({ lifetimeMs: 7 * DAY, deaths: 1 });
    expect(s.learned?.cause).toMatchObject({ id: 'google_testing_expiry', confidence: 'likely' });
    // Every face shows the same plan and says why.
    const view = connectionView(s, clock.now());
    expect(view.renewal_planned_at).toBe(new Date(granted + 6 * DAY).toISOString());
    expect(view.learned_lifetime).toMatchObject({ seconds: 7 * 86_400, deaths: 1 });
    const mcp = describeConnection(s, {
      now: clock.now(),
      displayName: 'Google',
      routes: [],
      deadSince: null,
      notify: [],
    });
    expect(mcp.renewal_planned_at).toBe(view.renewal_planned_at);
    expect(mcp.sentence).toMatch(
      /learned from how the last grant died.*Likely cause.*most likely in Testing.*Publish app/,
    );
    const orch = createOrchestrator(partsOf(w), { channels: new Map() });
    expect(orch.renewalAt('mail', (await partsOf(w).store.getConnection('mail'))!)).toBe(granted + 6 * DAY);
    await w.close();

    // A restart on the same store keeps the lesson and the plan.
    const again = await open(clock, db, google);
    const s2 = await statusOf(again);
    expect(s2.plannedRenewalAt).toBe(granted + 6 * DAY);
    expect(s2.learned).toMatchObject({ lifetimeMs: 7 * DAY });
    // A refresh after the restart predicts the same death again (the keeper reads the lesson back).
    await clock.advance(2 * DAY);
    await partsOf(again).keeper.forceRefresh('mail');
    expect((await statusOf(again)).refreshExpiresAt).toBe(granted + 7 * DAY);
    // And the scheduler's renewal check fires on day 6, not at Google's 6-month rule.
    const orch2 = createOrchestrator(partsOf(again), { channels: new Map() });
    const row = (await partsOf(again).store.getConnection('mail'))!;
    expect(orch2.needsHuman('mail', row, granted + 6 * DAY - 1)).toBeNull();
    expect(orch2.needsHuman('mail', row, granted + 6 * DAY)).toBe('predicted');
    // The renewal request tells the human why it comes early, as a likely cause, and the fix.
    const got: ChannelMessage[] = [];
    const me: Channel = {
      name: 'me',
      type: 'console',
      twoWay: false,
      send: (m) => {
        got.push(m);
        return Promise.resolve({});
      },
    };
    await createOrchestrator(partsOf(again), { channels: new Map([['me', me]]) }).requestReauth('mail', {
      reason: 'predicted',
      via: ['me'],
    });
    expect(got[0]?.cause).toMatch(
      /^The refresh token is predicted to die at 2026-03-16 13:50 UTC; renewing now avoids any gap\. Likely cause \(inferred from the facts, not stated by the provider\): .*most likely in Testing/,
    );
    expect(got[0]?.fix).toMatch(/^To stop the weekly expiry, publish the app to production/);
  });

  it('a grant that outlives the learned lifetime (the app was published) makes tokenwarden forget it', async () => {
    const clock = new FakeClock(Date.UTC(2026, 2, 2, 9, 30));
    // Published right after the first death: later grants live on.
    tokenEndpoint(clock, (n) => (n === 1 ? 7 * DAY : Number.POSITIVE_INFINITY), GOOGLE_DEAD, GRANTED);
    const w = await open(clock, join(dir, 'google-published.db'), google);
    await consent(w);
    await clock.advance(7 * DAY);
    expect((await death(w)).diagnosis.id).toBe('google_testing_expiry');
    await consent(w);
    const granted = clock.now();
    expect((await statusOf(w)).refreshExpiresAt).toBe(granted + 7 * DAY);
    // Still inside the tolerance: the lesson stands.
    await clock.advance(7 * DAY + 5 * HOUR);
    await partsOf(w).keeper.forceRefresh('mail');
    expect((await statusOf(w)).learned).toMatchObject({ lifetimeMs: 7 * DAY });
    // Past it, alive: forgotten, back to Google's documented rules.
    await clock.advance(2 * HOUR);
    await partsOf(w).keeper.forceRefresh('mail');
    const s = await statusOf(w);
    expect(s.learned ?? null).toBeNull();
    expect(s.refreshExpiresAt).toBeGreaterThan(clock.now() + 100 * DAY);
    const refreshed = (await partsOf(w).store.listEvents({ connection: 'mail', limit: 100 })).filter(
      (e) => e.type === 'refreshed',
    );
    expect(refreshed.at(-1)?.data).toMatchObject({ learnedLifetimeForgotten: true });
    expect((await partsOf(w).store.getConnection('mail'))?.lifetime).toMatchObject({
      deathAges: [7 * DAY],
      lifetimeMs: null,
    });
  });

  it('a death at another age is not called Testing; declared app_status decides instead of guessing', async () => {
    const clock = new FakeClock(Date.UTC(2026, 2, 2, 9, 30));
    tokenEndpoint(clock, () => 4 * DAY, GOOGLE_DEAD, GRANTED);
    const w = await open(clock, join(dir, 'google-4d.db'), google);
    await consent(w);
    await clock.advance(4 * DAY + HOUR);
    const err = await death(w);
    expect(err.diagnosis).toMatchObject({ id: 'revoked', confidence: 'unknown' });
    expect((await statusOf(w)).learned ?? null).toBeNull();

    // Declared Testing: the same death at 7 days is a known fact, no inference needed.
    const clock2 = new FakeClock(Date.UTC(2026, 2, 2, 9, 30));
    tokenEndpoint(clock2, () => 7 * DAY, GOOGLE_DEAD, GRANTED);
    const declared = await open(clock2, join(dir, 'google-declared.db'), { ...google, app_status: 'testing' });
    await consent(declared);
    await clock2.advance(7 * DAY);
    expect((await death(declared)).diagnosis).toMatchObject({ id: 'google_testing_expiry', confidence: 'known' });

    // Declared production: the operator's word wins over the guess.
    const clock3 = new FakeClock(Date.UTC(2026, 2, 2, 9, 30));
    tokenEndpoint(clock3, () => 7 * DAY, GOOGLE_DEAD, GRANTED);
    const prod = await open(clock3, join(dir, 'google-prod.db'), { ...google, app_status: 'production' });
    await consent(prod);
    await clock3.advance(7 * DAY);
    expect((await death(prod)).diagnosis.id).toBe('revoked');
    await consent(prod);
    expect((await statusOf(prod)).refreshExpiresAt).toBeGreaterThan(clock3.now() + 100 * DAY);
  });

  it('only openid/email/profile scopes never trigger the Testing diagnosis', async () => {
    const clock = new FakeClock(Date.UTC(2026, 2, 2, 9, 30));
    tokenEndpoint(clock, () => 7 * DAY, GOOGLE_DEAD, 'openid https://www.googleapis.com/auth/userinfo.email');
    const w = await open(clock, join(dir, 'google-basic.db'), { provider: 'google', scopes: ['openid', 'email'] });
    await consent(w);
    await clock.advance(7 * DAY);
    expect((await death(w)).diagnosis.id).toBe('revoked');
  });
});

describe('repeated deaths at a consistent age (generic provider)', () => {
  it('learns the interval after the second death, names the likely cause and who can change it, and plans the renewal out of quiet hours', async () => {
    // An organisation's session policy: grants die ~10 hours after consent.
    const clock = new FakeClock(Date.UTC(2026, 2, 2, 17, 0));
    const lives = [10 * HOUR, 10.5 * HOUR, 10 * HOUR];
    tokenEndpoint(clock, (n) => lives[n - 1] ?? 10 * HOUR, {
      error: 'invalid_grant',
      error_description: 'Session expired',
    });
    const quiet = '22:00-07:00 UTC';
    const w = await open(clock, join(dir, 'session.db'), {
      provider: 'oauth2',
      scopes: ['mail'],
      quiet_hours: quiet,
    });
    await consent(w);
    await clock.advance(10 * HOUR);
    const first = await death(w);
    // One death teaches nothing yet: the provider did not say why.
    expect(first.diagnosis).toMatchObject({ id: 'revoked', confidence: 'unknown' });
    expect((await partsOf(w).store.getConnection('mail'))?.lifetime).toMatchObject({
      deathAges: [10 * HOUR],
      lifetimeMs: null,
    });

    await clock.advance(HOUR);
    await consent(w);
    await clock.advance(10.5 * HOUR);
    const second = await death(w);
    expect(second.diagnosis).toMatchObject({ id: 'session_limit', confidence: 'likely' });
    expect(second.diagnosis.summary).toMatch(/last 2 grants each died about 10h after consent/);
    expect(second.diagnosis.summary).toMatch(/most likely/);
    expect(second.diagnosis.fix).toMatch(/identity provider's administrator/);

    await clock.advance(HOUR);
    await consent(w);
    const granted = clock.now();
    const s = await statusOf(w);
    expect(s.learned).toMatchObject({ lifetimeMs: 10 * HOUR, deaths: 2 });
    expect(s.refreshExpiresAt).toBe(granted + 10 * HOUR);
    // Consent at 15:30, death predicted at 01:30. A quarter of the grant's life ahead (not the 24 h
    // reauth_lead, which would ask the moment the human consented) is 23:00 — quiet hours, which
    // last past the death: so the human is asked just before they begin.
    expect(granted).toBe(Date.UTC(2026, 2, 3, 15, 30));
    const plan = s.plannedRenewalAt as number;
    expect(plan).toBe(Date.UTC(2026, 2, 3, 21, 59));
    expect(isQuiet(parseQuietHours(quiet), plan)).toBe(false);
    expect(connectionView(s, clock.now()).renewal_planned_at).toBe(new Date(plan).toISOString());
    expect(
      createOrchestrator(partsOf(w), { channels: new Map() }).renewalAt(
        'mail',
        (await partsOf(w).store.getConnection('mail'))!,
      ),
    ).toBe(plan);
  });

  it('deaths at scattered ages teach nothing', async () => {
    const clock = new FakeClock(Date.UTC(2026, 2, 2, 8, 0));
    const lives = [10 * HOUR, 30 * HOUR];
    tokenEndpoint(clock, (n) => lives[n - 1] ?? HOUR, { error: 'invalid_grant' });
    const w = await open(clock, join(dir, 'scattered.db'), { provider: 'oauth2', scopes: ['mail'] });
    await consent(w);
    await clock.advance(10 * HOUR);
    await death(w);
    await consent(w);
    await clock.advance(30 * HOUR);
    expect((await death(w)).diagnosis.id).toBe('revoked');
    await consent(w);
    expect((await statusOf(w)).learned ?? null).toBeNull();
    expect((await statusOf(w)).plannedRenewalAt).toBeNull();
  });
});

describe('predictions from inactivity', () => {
  it('a Microsoft grant in use is not predicted to die 90 days after consent: every refresh moves the death forward', async () => {
    const clock = new FakeClock(Date.UTC(2026, 2, 2, 9, 30));
    tokenEndpoint(clock, () => Number.POSITIVE_INFINITY, GOOGLE_DEAD);
    const w = await open(clock, join(dir, 'microsoft.db'), { provider: 'microsoft', scopes: ['Mail.Send'] });
    await consent(w);
    const granted = clock.now();
    expect((await statusOf(w)).refreshExpiresAt).toBe(granted + 90 * DAY);
    await clock.advance(60 * DAY);
    await partsOf(w).keeper.forceRefresh('mail');
    const s = await statusOf(w);
    expect(s.refreshExpiresAt).toBe(clock.now() + 90 * DAY);
    expect(s.plannedRenewalAt).toBe(clock.now() + 89 * DAY);
  });
});
