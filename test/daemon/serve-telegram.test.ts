/**
 * Human-assisted re-authorization, end to end with real peers: `tokenwarden serve` as a
 * child process, oidc-provider with rotation, a long-polling Telegram Bot API server.
 *
 * The grant is revoked at the provider while `serve` runs; the daemon's scheduler finds it dead
 * at its next refresh; a Telegram message with the link reaches the test user; the headless
 * human approves and sends the final redirect URL as a chat message; the tokens are stored and
 * `tokenwarden token` works again — no process restarted. Then a graceful shutdown with a paste
 * in flight loses nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openWarden, partsOf } from '../../src/warden.js';
import { makeWorkspace, type Workspace } from '../helpers/workspace.js';
import { startOidcProvider, type OidcPeer } from '../peers/oidc-provider.js';
import { DEFAULT_USER_ID, startTelegramPeer, type TelegramPeer } from '../peers/telegram.js';
import { freePort, linkIn, newerThan, spawnServe, type ServeChild } from './helpers.js';

let oidc: OidcPeer;
let tg: TelegramPeer;
let ws: Workspace;
let serve: ServeChild | null = null;
let port: number;

/** The stored access token, read (and refreshed if due) by a library client in this process. */
async function latestToken(): Promise<string> {
  const w = await openWarden({ configPath: ws.configPath });
  try {
    return await w.accessToken('sandbox');
  } finally {
    await w.close();
  }
}

const isRequest = (m: { text: string }): boolean => m.text.includes('Re-authorize sandbox');

beforeAll(async () => {
  port = await freePort();
  const redirectUri = `http://127.0.0.1:${port}/oauth/callback`;
  // Access tokens live 4 s: the daemon refreshes every ~3 s, so a revoked grant is found at once.
  oidc = await startOidcProvider({ redirectUris: [redirectUri], accessTokenTtl: 4, refreshTokenTtl: 600 });
  tg = await startTelegramPeer();
  ws = makeWorkspace({});
  ws.writeConfig({
    server: { listen: `127.0.0.1:${port}` },
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
        provider: 'oidc',
        issuer: oidc.issuer,
        client_id: oidc.clientId,
        client_secret: oidc.clientSecret,
        redirect_uri: redirectUri,
        scopes: ['openid', 'offline_access', 'api:read'],
        flow: 'auth_code',
        notify: ['ops'],
      },
    },
  });
});

afterAll(async () => {
  await serve?.stop('SIGKILL');
  await tg?.stop();
  await oidc?.stop();
  ws?.cleanup();
});

describe('tokenwarden serve with Telegram', () => {
  it('connects through the daemon: connect --via sends the link, the chat paste is captured by serve', async () => {
    serve = await spawnServe(ws);
    expect(serve.url).toBe(`http://127.0.0.1:${port}`);
    await tg.waitForParkedPolls(1, 10_000); // the daemon long-polls before anything is sent
    const health = await fetch(`${serve.url}/healthz`);
    expect(health.status).toBe(200);

    const started = await ws.cli(['connect', 'sandbox', '--via', 'ops', '--no-wait', '--json']);
    expect(started.code).toBe(0);
    const msg = await tg.waitForBotMessage(isRequest, 10_000);
    const finalUrl = await oidc.approveAuthorization(linkIn(msg));
    const said = await tg.userSays(finalUrl);
    const reply = await tg.waitForBotMessage((m) => m.text.startsWith('Accepted: sandbox is healthy again'), 10_000);
    expect(reply.text).toMatch(/account alice/);
    expect(tg.deletedMessages()).toContain(said.message_id);
    const tok = await ws.cli(['token', 'sandbox']);
    expect(tok.code).toBe(0);
  });

  it('revoked at the provider → the daemon asks via Telegram → the chat paste heals it, no restart', async () => {
    const seen = tg.botMessages();
    await oidc.revokeGrantsFor();
    const fresh = newerThan(seen);
    // Detected by the scheduler's next refresh (invalid_grant), then armed and sent.
    const ask = await tg.waitForBotMessage((m) => fresh(m) && isRequest(m), 20_000);
    // What happened, what to do now (the link once), no broken paste sentence.
    expect(ask.text).toMatch(/The provider refused the refresh token: it was revoked or has expired\./);
    expect(ask.text.match(/http:\/\/127\.0\.0\.1:\d+\/auth\?/g)).toHaveLength(1);
    expect(ask.text).toMatch(/send it here\./);
    expect(ask.text).not.toMatch(/Or paste it at|Then run|Reason:/);

    // The caller's side while the human is away: exit 3 with when/where the human was asked and the link's expiry.
    const waiting = await ws.cli(['token', 'sandbox']);
    expect(waiting.code).toBe(3);
    expect(waiting.stdout).toBe('');
    expect(waiting.stderr).toMatch(/needs a human to re-authorize/);
    expect(waiting.stderr).toMatch(/requested via channel "ops"/);
    expect(waiting.stderr).toMatch(/Open: http:\/\/127\.0\.0\.1:\d+\/auth\?.*expires in (9|10)m/);
    expect(waiting.stderr).toMatch(/Asked \S+ ago via channel "ops"/);

    // Another process waits for the heal (store polling).
    const lib = await openWarden({ configPath: ws.configPath });
    try {
      const ready = lib.waitUntilReady('sandbox', { timeoutMs: 20_000 });
      const finalUrl = await oidc.approveAuthorization(linkIn(ask));
      const code = new URL(finalUrl).searchParams.get('code') as string;
      const said = await tg.userSays(`here you go: ${finalUrl}`);
      const reply = await tg.waitForBotMessage((m) => fresh(m) && m.text.startsWith('Accepted: sandbox'), 10_000);
      expect(reply.text).toBe('Accepted: sandbox is healthy again (account alice).');
      expect(tg.deletedMessages()).toContain(said.message_id);
      const token = await ready;
      expect((await oidc.introspect(token)).active).toBe(true);

      const tok = await ws.cli(['token', 'sandbox']);
      expect(tok.code).toBe(0);
      expect(tok.stdout.trim().length).toBeGreaterThan(10);
      // No secret in the daemon's logs, events or chat replies.
      const events = JSON.stringify(await partsOf(lib).store.listEvents({ limit: 1000 }));
      for (const secret of [code, tok.stdout.trim(), token]) {
        expect(serve?.stderr()).not.toContain(secret);
        expect(serve?.stdout()).not.toContain(secret);
        expect(events).not.toContain(secret);
        for (const m of tg.botMessages()) expect(m.text).not.toContain(secret);
      }
    } finally {
      await lib.close();
    }
  });

  it('shuts down gracefully on SIGTERM with a paste in flight: nothing is lost', async () => {
    const seen = tg.botMessages();
    const fresh = newerThan(seen);
    await oidc.revokeGrantsFor();
    const ask = await tg.waitForBotMessage((m) => fresh(m) && isRequest(m), 20_000);
    const finalUrl = await oidc.approveAuthorization(linkIn(ask));
    await tg.userSays(finalUrl);
    const code = await serve?.stop('SIGTERM');
    expect(code).toBe(0);
    expect(serve?.stderr()).toMatch(/stopped/);
    expect(tg.parkedPolls).toBe(0); // the long poll was aborted, not left hanging

    // Either the exchange finished before exit, or the paste is still queued at Telegram and a
    // restarted daemon consumes it: both ways the human never has to repeat themselves.
    let tok = await ws.cli(['token', 'sandbox']);
    if (tok.code !== 0) {
      serve = await spawnServe(ws);
      await tg.waitForBotMessage((m) => fresh(m) && m.text.startsWith('Accepted: sandbox'), 10_000);
      tok = await ws.cli(['token', 'sandbox']);
    }
    expect(tok.code).toBe(0);
    expect((await oidc.introspect(await latestToken())).active).toBe(true);
  });
});
