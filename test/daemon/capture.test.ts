/**
 * Capture paths of the daemon (in process, real peers): who may paste, what a paste must carry,
 * what happens to a late code, the callback route, the device flow, the caller's side, and two
 * daemons on one bot.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import { ReauthRequiredError } from '../../src/core/errors.js';
import type { WardenEvent } from '../../src/core/types.js';
import type { TelegramChannel } from '../../src/channels/telegram.js';
import { REFUSAL_TEXT } from '../../src/channels/telegram.js';
import { partsOf, type Warden } from '../../src/warden.js';
import { makeWorkspace, type Workspace } from '../helpers/workspace.js';
import { startOidcProvider, type OidcPeer } from '../peers/oidc-provider.js';
import { DEFAULT_USER_ID, startTelegramPeer, type BotMessage, type TelegramPeer } from '../peers/telegram.js';
import { freePort, linkIn, newerThan } from './helpers.js';

let oidc: OidcPeer;
let tg: TelegramPeer;
let ws: Workspace;
let daemon: Daemon;
let redirectUri: string;

const STRANGER = 999_001;

function config(): Record<string, unknown> {
  const common = {
    provider: 'oidc',
    issuer: oidc.issuer,
    client_id: oidc.clientId,
    client_secret: oidc.clientSecret,
    notify: ['ops'],
  };
  return {
    channels: {
      ops: {
        type: 'telegram',
        bot_token: tg.token,
        chat_id: DEFAULT_USER_ID,
        allow_from: [DEFAULT_USER_ID],
        api_root: tg.apiRoot,
        poll_timeout: '10s',
      },
    },
    connections: {
      sandbox: {
        ...common,
        redirect_uri: redirectUri,
        scopes: ['openid', 'offline_access', 'api:read'],
        flow: 'auth_code',
      },
      dev: { ...common, scopes: ['openid', 'offline_access', 'api:read'], flow: 'device' },
    },
  };
}

/** Resolves with the first event of `type` the warden records from now on. */
function nextEvent(w: Warden, pred: (e: WardenEvent) => boolean): Promise<WardenEvent> {
  return new Promise((resolve) => {
    const on = (e: WardenEvent): void => {
      if (!pred(e)) return;
      w.events.off('event', on);
      resolve(e);
    };
    w.events.on('event', on);
  });
}

/** Ask for `conn` through the daemon and return the Telegram message that carried the link. */
async function ask(
  conn: string,
  opts: { fresh?: boolean } = {},
): Promise<{ msg: BotMessage; flowId: string; fresh: (m: BotMessage) => boolean }> {
  const fresh = newerThan(tg.botMessages());
  const flow = await daemon.orchestrator.requestReauth(conn, { reason: 'manual', fresh: opts.fresh ?? true });
  expect(flow.askedVia).toEqual(['ops']);
  const msg = await tg.waitForBotMessage((m) => fresh(m) && m.text.includes(`Re-authorize ${conn}`));
  return { msg, flowId: flow.id, fresh };
}

const replyTo = (said: { message_id: number }) => (m: BotMessage) => m.reply_to === said.message_id;

beforeAll(async () => {
  const port = await freePort();
  redirectUri = `http://127.0.0.1:${port}/oauth/callback`;
  oidc = await startOidcProvider({ redirectUris: [redirectUri], accessTokenTtl: 60, refreshTokenTtl: 600 });
  tg = await startTelegramPeer();
  ws = makeWorkspace({});
  ws.writeConfig({ ...config(), server: { listen: `127.0.0.1:${port}` } });
  daemon = await startDaemon({ configPath: ws.configPath, scheduler: { probeIntervalMs: 0 } });
  await tg.waitForParkedPolls(1);
});

afterAll(async () => {
  await daemon?.close();
  await tg?.stop();
  await oidc?.stop();
  ws?.cleanup();
});

describe('paste capture', () => {
  it("refuses a stranger's paste and changes nothing; the allowed human's paste heals at once", async () => {
    // The caller's side before the human answers: a typed, immediate answer with the facts.
    const { msg, flowId, fresh } = await ask('sandbox');
    const err = await daemon.warden.accessToken('sandbox').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ReauthRequiredError);
    const facts = (err as ReauthRequiredError).reauth;
    expect(facts).toMatchObject({ flowId, askedVia: ['ops'] });
    expect(facts.url).toBe(linkIn(msg));
    expect(facts.expiresAt).toBeGreaterThan(Date.now());
    const ready = daemon.warden.waitUntilReady('sandbox', { timeoutMs: 10_000 }).then((t) => ({ t, at: Date.now() }));

    const finalUrl = await oidc.approveAuthorization(linkIn(msg));
    const stranger = await tg.userSays(finalUrl, { userId: STRANGER, chatId: STRANGER });
    const refusal = await tg.waitForBotMessage((m) => fresh(m) && m.chat_id === String(STRANGER));
    expect(refusal.text).toBe(REFUSAL_TEXT);
    expect(tg.deletedMessages()).not.toContain(stranger.message_id);
    expect((await partsOf(daemon.warden).store.getFlow(flowId))?.status).toBe('open');
    expect((await partsOf(daemon.warden).store.getConnection('sandbox'))?.accessToken ?? null).toBeNull();

    const completed = nextEvent(daemon.warden, (e) => e.type === 'reauth_completed' && e.connection === 'sandbox');
    const said = await tg.userSays(finalUrl);
    const reply = await tg.waitForBotMessage((m) => fresh(m) && m.text.startsWith('Accepted:'));
    expect(reply.text).toBe('Accepted: sandbox is healthy again (account alice).');
    expect(tg.deletedMessages()).toContain(said.message_id);
    const done = await completed;
    // waitUntilReady resolves the moment it heals (event-driven in this process).
    const r = await ready;
    expect(r.at - done.at).toBeLessThan(250);
    expect((await oidc.introspect(r.t)).active).toBe(true);
  });

  it('refuses a forged state and garbage with a clear reply; the open flow stays usable', async () => {
    const { msg, flowId, fresh } = await ask('sandbox');
    const forged = await tg.userSays(`${redirectUri}?code=abc123&state=forged-state-value`);
    expect((await tg.waitForBotMessage(replyTo(forged))).text).toMatch(/does not match any flow/);
    const garbage = await tg.userSays('hello, is this the right place?');
    expect((await tg.waitForBotMessage(replyTo(garbage))).text).toMatch(/^Not accepted/);
    expect((await partsOf(daemon.warden).store.getFlow(flowId))?.status).toBe('open');
    expect(tg.deletedMessages()).not.toContain(forged.message_id);

    const finalUrl = await oidc.approveAuthorization(linkIn(msg));
    await tg.userSays(finalUrl);
    await tg.waitForBotMessage((m) => fresh(m) && m.text.startsWith('Accepted: sandbox'));
    // A second use of the same answer is refused and changes nothing.
    const again = await tg.userSays(finalUrl);
    expect((await tg.waitForBotMessage(replyTo(again))).text).toMatch(/already used/);
    expect((await partsOf(daemon.warden).store.listOpenFlows('sandbox')).length).toBe(0);
  });

  it('an expired link gets a fresh one at once, and the reply says why', async () => {
    const { msg, flowId, fresh } = await ask('sandbox');
    const finalUrl = await oidc.approveAuthorization(linkIn(msg));
    // The human took longer than the link's lifetime.
    await partsOf(daemon.warden).store.updateFlow(flowId, { expiresAt: Date.now() - 1 });
    const after = newerThan(tg.botMessages());
    const said = await tg.userSays(finalUrl);
    const reply = await tg.waitForBotMessage((m) => after(m) && m.text.startsWith('Not accepted'));
    expect(reply.text).toMatch(
      /The link expired before it was used\. A fresh link was sent via telegram channel "ops"; it expires in 10m/,
    );
    expect(tg.deletedMessages()).toContain(said.message_id);
    const again = await tg.waitForBotMessage((m) => after(m) && m.text.includes('Re-authorize sandbox'));
    expect(again.text).toMatch(/The link expired before it was used\. Here is a fresh link\./);
    expect(linkIn(again)).not.toBe(linkIn(msg));
    await tg.userSays(await oidc.approveAuthorization(linkIn(again)));
    await tg.waitForBotMessage((m) => fresh(m) && m.text.startsWith('Accepted: sandbox'));
  });

  it('a code already used at the provider (invalid_grant) keeps the link open, and the reply says why', async () => {
    const { msg, flowId, fresh } = await ask('sandbox');
    const finalUrl = await oidc.approveAuthorization(linkIn(msg));
    // Someone else redeemed the code first (or it expired at the provider).
    const flow = await partsOf(daemon.warden).store.getFlow(flowId);
    const res = await fetch(`${oidc.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: new URL(finalUrl).searchParams.get('code') ?? '',
        redirect_uri: redirectUri,
        code_verifier: flow?.codeVerifier ?? '',
        client_id: oidc.clientId,
        client_secret: oidc.clientSecret,
      }),
    });
    expect(res.status).toBe(200);
    const said = await tg.userSays(finalUrl);
    const reply = await tg.waitForBotMessage(replyTo(said));
    expect(reply.text).toMatch(
      /^Not accepted: the provider refused this code .*The link stays open: open it again .*\(2 more tries before it closes\)/,
    );
    expect((await partsOf(daemon.warden).store.getFlow(flowId))?.status).toBe('open');
    // The human opens the same link again: a new code, accepted.
    await tg.userSays(await oidc.approveAuthorization(linkIn(msg)));
    await tg.waitForBotMessage((m) => fresh(m) && m.text.startsWith('Accepted: sandbox'));
    expect((await partsOf(daemon.warden).store.getFlow(flowId))?.status).toBe('completed');
  });

  it('junk codes with a leaked state close the link after 3 tries; its fresh replacement is rate-limited', async () => {
    const { msg, flowId } = await ask('sandbox');
    const junk = (link: string, i: number): Promise<Response> =>
      fetch(
        `${redirectUri}?${new URLSearchParams({ code: `junk-${i}`, state: new URL(link).searchParams.get('state') ?? '', iss: oidc.issuer })}`,
      );
    for (const i of [1, 2]) {
      const r = await junk(linkIn(msg), i);
      expect(r.status).toBe(400);
      expect(await r.text()).toMatch(/the provider refused this code.*The link stays open/);
      expect((await partsOf(daemon.warden).store.getFlow(flowId))?.status).toBe('open');
    }
    const after = newerThan(tg.botMessages());
    const third = await junk(linkIn(msg), 3);
    expect(third.status).toBe(410);
    expect(await third.text()).toMatch(
      /refused 3 codes sent for this link.*A fresh link was sent via telegram channel (&quot;|")ops/,
    );
    expect((await partsOf(daemon.warden).store.getFlow(flowId))?.status).toBe('failed');
    const again = await tg.waitForBotMessage((m) => after(m) && m.text.includes('Re-authorize sandbox'));
    // The closed link takes no more codes.
    const late = await junk(linkIn(msg), 4);
    expect(late.status).toBe(400);
    expect(await late.text()).toMatch(/already used or closed/);
    // Three more junk codes on the fresh link close it too; its replacement is opened but held back.
    const second = (await partsOf(daemon.warden).store.listOpenFlows('sandbox'))[0];
    expect(second?.url).toBe(linkIn(again));
    for (const i of [5, 6]) expect((await junk(linkIn(again), i)).status).toBe(400);
    const limited = await junk(linkIn(again), 7);
    expect(limited.status).toBe(400);
    expect(await limited.text()).toMatch(
      /replaced at most once per 10m: a new one is open on the dashboard and is sent in 10m unless used/,
    );
    expect((await partsOf(daemon.warden).store.getFlow(second?.id ?? ''))?.status).toBe('failed');
    const held = await partsOf(daemon.warden).store.listOpenFlows('sandbox');
    expect(held).toHaveLength(1);
    expect(held[0]?.askedVia).toEqual([]);
    // The human can still ask for a link and heal the connection.
    const { msg: asked, fresh } = await ask('sandbox');
    await tg.userSays(await oidc.approveAuthorization(linkIn(asked)));
    await tg.waitForBotMessage((m) => fresh(m) && m.text.startsWith('Accepted: sandbox'));
  });
});

describe('callback route', () => {
  it('GET /oauth/callback completes the flow by state at once and never echoes the code', async () => {
    const { msg, fresh } = await ask('sandbox');
    const finalUrl = await oidc.approveAuthorization(linkIn(msg));
    expect(finalUrl.startsWith(redirectUri)).toBe(true);
    const code = new URL(finalUrl).searchParams.get('code') as string;
    const res = await fetch(finalUrl);
    const body = await res.text();
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(body).toContain('sandbox is healthy again (account alice)');
    expect(body).not.toContain(code);
    // The human hears about it where they were asked.
    const notice = await tg.waitForBotMessage((m) => fresh(m) && m.text.includes('sandbox is healthy again'));
    expect(notice.text).not.toContain(code);

    const again = await fetch(finalUrl);
    expect(again.status).toBe(400);
    expect(await again.text()).toMatch(/already used/);
  });

  it.each([
    ['a forged state', '?code=zzz&state=%3Cscript%3Ealert(1)%3C%2Fscript%3E', /does not match any flow/],
    // Error text for no open flow is anyone's text: refused before anything is recorded.
    [
      'a provider error for no open flow',
      '?error=access_denied&error_description=%3Cimg%20src%3Dx%3E&state=abc',
      /does not match any flow/,
    ],
    ['no state', '?code=zzz', /no state parameter/],
  ])('refuses %s with an escaped page', async (_what, query, expected) => {
    const res = await fetch(`${redirectUri}${query}`);
    const body = await res.text();
    expect(res.status).toBe(400);
    expect(body).toMatch(expected);
    expect(body).not.toMatch(/<script>|<img/);
    expect(body).not.toContain('zzz');
  });
});

describe('device flow', () => {
  it('is polled before the link is sent; approving on the provider page heals it with no paste', async () => {
    const { msg, fresh } = await ask('dev');
    expect(msg.text).toMatch(/Code: <code>[A-Z-]+<\/code>/);
    const err = await daemon.warden.accessToken('dev').catch((e: unknown) => e);
    expect((err as ReauthRequiredError).reauth.userCode).toMatch(/^[A-Z-]+$/);
    const completed = nextEvent(daemon.warden, (e) => e.type === 'reauth_completed' && e.connection === 'dev');
    await oidc.approveDevice(linkIn(msg));
    expect((await completed).data).toMatchObject({ kind: 'device_code', via: 'device code' });
    await tg.waitForBotMessage((m) => fresh(m) && m.text.includes('dev is healthy again'));
    expect((await oidc.introspect(await daemon.warden.accessToken('dev'))).active).toBe(true);
  });
});

describe('device flow with another account', () => {
  it('is refused, and the human hears it where they were asked', async () => {
    // `dev` belongs to alice (device flow test above); mallory approves its next device code.
    expect((await partsOf(daemon.warden).store.getConnection('dev'))?.account).toBe('alice');
    const before = (await partsOf(daemon.warden).store.getConnection('dev'))?.accessToken;
    const { msg, flowId, fresh } = await ask('dev');
    const refused = nextEvent(daemon.warden, (e) => e.type === 'account_change_refused' && e.connection === 'dev');
    await oidc.approveDevice(linkIn(msg), { accountId: 'mallory' });
    expect((await refused).data).toMatchObject({ flowId, belongsTo: 'alice', completedAs: 'mallory' });
    const notice = await tg.waitForBotMessage((m) => fresh(m) && m.text.includes('another account refused'));
    expect(notice.text).toMatch(/completed with account mallory, but dev belongs to alice; nothing was changed/);
    expect((await partsOf(daemon.warden).store.getFlow(flowId))?.status).toBe('failed');
    expect((await partsOf(daemon.warden).store.getConnection('dev'))?.accessToken).toBe(before);
  });
});

describe('two daemons on one bot', () => {
  it('the second one gets 409, reports it and stays passive; the first keeps capturing', async () => {
    const other = makeWorkspace({});
    other.writeConfig(config());
    const conflictsBefore = tg.conflicts;
    const second = await startDaemon({
      configPath: other.configPath,
      listen: '127.0.0.1:0',
      scheduler: { probeIntervalMs: 0 },
    });
    try {
      const reported = await new Promise<WardenEvent>((resolve) => {
        const on = (e: WardenEvent): void => {
          if (e.type !== 'channel_error') return;
          second.warden.events.off('event', on);
          resolve(e);
        };
        second.warden.events.on('event', on);
      });
      expect(reported.message).toMatch(/another process is polling this bot; this one stays passive.*409/);
      expect(tg.conflicts).toBeGreaterThan(conflictsBefore);
      const ch = second.channels.get('ops') as TelegramChannel;
      expect(ch.state).toBe('passive');
      expect((daemon.channels.get('ops') as TelegramChannel).state).toBe('polling');
      // The first daemon still answers at once.
      const said = await tg.userSays('still there?');
      expect((await tg.waitForBotMessage(replyTo(said))).text).toMatch(/^Not accepted/);
    } finally {
      await second.close();
      other.cleanup();
    }
  });
});
