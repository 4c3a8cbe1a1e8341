/**
 * Health at start for every fallback: the daemon checks its channels, App Password routes and
 * client secrets as it starts, against real peers (smtp-server with AUTH, oidc-provider with the
 * client-credentials grant, the Telegram stand-in).
 *
 * - a wrong App Password on an SMTP route (smtp-server) or an IMAP route (Dovecot) → a Telegram
 *   message naming the route and the fix;
 * - a client-credentials connection with a wrong secret → no flow, no link; the message and
 *   `status` name the secret and where to rotate it;
 * - a channel that cannot deliver → the human hears about it through the channel that works;
 * - "only one route / channel still works" is a warning on /healthz.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import { makeWorkspace, type Workspace } from '../helpers/workspace.js';
import { startOidcProvider, type OidcPeer } from '../peers/oidc-provider.js';
import { startDovecot, type DovecotPeer } from '../peers/dovecot.js';
import { startSmtpPeer, type SmtpPeer } from '../peers/smtp.js';
import { DEFAULT_USER_ID, startTelegramPeer, type TelegramPeer } from '../peers/telegram.js';
import { freePort } from './helpers.js';
import { partsOf } from '../../src/warden.js';

let oidc: OidcPeer;
let smtp: SmtpPeer;
let dovecot: DovecotPeer;
let tg: TelegramPeer;
let ws: Workspace;
let daemon: Daemon;
/** The SMTP server's accounts (changed below: the human creates a new App Password). */
const passwords: Record<string, string> = { 'agent@example.com': 'right-app-pw', 'backup@example.com': 'backup-pw' };

beforeAll(async () => {
  oidc = await startOidcProvider({ redirectUris: ['http://127.0.0.1:1/oauth/callback'] });
  smtp = await startSmtpPeer({ passwords });
  tg = await startTelegramPeer();
  dovecot = await startDovecot({ passwords: { 'agent@example.com': 'right-app-pw' } });
  const telegram = { type: 'telegram', bot_token: tg.token, allow_from: [DEFAULT_USER_ID], poll_timeout: '2s' };
  ws = makeWorkspace({
    server: { listen: `127.0.0.1:${await freePort()}` },
    channels: {
      ops: { ...telegram, chat_id: DEFAULT_USER_ID, api_root: tg.apiRoot },
      // The bot was never added to this chat: getChat answers "chat not found".
      team: { ...telegram, chat_id: -100777, api_root: tg.apiRoot },
    },
    connections: {
      svc: {
        provider: 'oidc',
        kind: 'client_credentials',
        issuer: oidc.issuer,
        client_id: oidc.clientId,
        client_secret: 'not-the-secret',
        scopes: ['api:read'],
        notify: ['ops'],
      },
    },
    mailboxes: {
      agent: {
        address: 'agent@example.com',
        send: [
          {
            smtp: {
              host: smtp.host,
              port: smtp.port,
              secure: false,
              user: 'agent@example.com',
              password: 'revoked-app-pw',
            },
          },
          {
            smtp: {
              host: smtp.host,
              port: smtp.port,
              secure: false,
              user: 'backup@example.com',
              password: 'backup-pw',
            },
          },
        ],
        read: [
          {
            imap: {
              host: dovecot.host,
              port: dovecot.port,
              secure: false,
              user: 'agent@example.com',
              password: 'revoked-app-pw',
            },
          },
        ],
      },
    },
  });
  daemon = await startDaemon({ configPath: ws.configPath });
});

afterAll(async () => {
  await daemon?.close();
  await tg?.stop();
  await smtp?.stop();
  await dovecot?.stop();
  await oidc?.stop();
  ws?.cleanup();
});

describe('serve checks every fallback and channel at start', () => {
  it('a wrong App Password on an SMTP route: the human is told which route and how to fix it', async () => {
    const m = await tg.waitForBotMessage((x) => x.text.includes(`send route smtp:${smtp.host} fails`), 20_000);
    expect(String(m.chat_id)).toBe(String(DEFAULT_USER_ID));
    expect(m.text).toMatch(/EAUTH/);
    expect(m.text).toMatch(/mailboxes\.agent\.send\[0\]\.smtp\.password/);
    expect(m.text).toMatch(/App Password/);
    expect(m.text).not.toContain('revoked-app-pw');
    // The working route is not reported.
    expect(tg.botMessages().some((x) => x.text.includes(`smtp:${smtp.host}#2`) && x.text.includes('fails'))).toBe(
      false,
    );
  });

  it('a wrong App Password on an IMAP route: the same, naming the read route', async () => {
    const m = await tg.waitForBotMessage((x) => x.text.includes(`read route imap:${dovecot.host} fails`), 20_000);
    expect(m.text).toMatch(/mailboxes\.agent\.read\[0\]\.imap\.password/);
    expect(m.text).not.toContain('revoked-app-pw');
  });

  it('a rejected client secret: no flow, no link; the message and status name the secret', async () => {
    const m = await tg.waitForBotMessage((x) => x.text.includes('svc: client secret rejected'), 20_000);
    expect(m.text).toMatch(/connections\.svc\.client_secret/);
    expect(m.text).toMatch(/No browser authorization is needed/);
    expect(m.text).not.toMatch(/https?:\/\/127\.0\.0\.1:\d+\/(auth|device)/);
    expect(await partsOf(daemon.warden).store.listFlows({ connection: 'svc' })).toEqual([]);
    const s = (await daemon.warden.status()).find((c) => c.name === 'svc');
    expect(s?.cause?.id).toBe('client_secret_rejected');
    expect(s?.openFlow).toBeNull();
    const cli = await ws.cli(['status']);
    expect(cli.code).toBe(0);
    expect(cli.stdout).toMatch(/rejected connections\.svc\.client_secret/);
    // Asking for a link anyway is refused with the same explanation.
    await expect(daemon.orchestrator.requestReauth('svc')).rejects.toThrow(/no browser authorization applies/);
  });

  it('a channel that cannot deliver is reported through the one that can', async () => {
    const m = await tg.waitForBotMessage((x) => x.text.includes('Channel team cannot reach you'), 20_000);
    expect(String(m.chat_id)).toBe(String(DEFAULT_USER_ID));
    expect(m.text).toMatch(/chat not found/);
    expect(m.text).toMatch(/send \/start/);
    expect(tg.botMessages(-100777)).toEqual([]);
  });

  it('/healthz stays 200 and warns that only one route and one channel still work', async () => {
    const res = await fetch(`${daemon.server.url}/healthz`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { ok: boolean; warnings: string[]; failing: Array<{ subject: string }> };
    expect(body.ok).toBe(true);
    expect(body.warnings).toContain(`Mailbox agent: only one send route still works (smtp:${smtp.host}#2).`);
    expect(body.warnings).toContain('Only one channel still reaches the human (ops).');
    expect(body.warnings).toContain('Mailbox agent: no read route works.');
    expect(body.failing.map((f) => f.subject).sort()).toEqual(
      [
        'channel:team',
        `route:agent:send:smtp:${smtp.host}`,
        `route:agent:read:imap:${dovecot.host}`,
        'secret:svc',
      ].sort(),
    );
    // `tokenwarden status` in another process shows the same warnings.
    const status = await ws.cli(['status']);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/Warnings from the running daemon:/);
    expect(status.stdout).toContain(`Mailbox agent: only one send route still works (smtp:${smtp.host}#2).`);
    expect(status.stdout).toMatch(/channel:team: .*chat not found/);
  });

  it('a fixed route is announced as working again and the warning clears', async () => {
    passwords['agent@example.com'] = 'revoked-app-pw'; // as if the config had held the new App Password
    await (await daemon.warden.mail()).probeAll();
    await tg.waitForBotMessage((x) => x.text.includes(`send route smtp:${smtp.host} works again`), 20_000);
    const body = (await (await fetch(`${daemon.server.url}/healthz`)).json()) as { warnings: string[] };
    expect(body.warnings.some((w) => w.startsWith('Mailbox agent: only one send route'))).toBe(false);
    expect(body.warnings).toContain('Mailbox agent: no read route works.'); // that one is still wrong
  });
});
