/**
 * The CLI's mail and check commands end to end: `mail send` through the Gmail route with a
 * real oidc-provider token, failing over to SMTP with an App Password once the grant is
 * revoked (no caller error), `mail list`, and `check` probing the provider.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openWarden, partsOf } from '../../src/warden.js';
import { makeWorkspace, type Workspace } from '../helpers/workspace.js';
import { startGmailFake, type GmailFake } from '../peers/gmail-fake.js';
import { startOidcProvider, type OidcPeer } from '../peers/oidc-provider.js';
import { startSmtpPeer, type SmtpPeer } from '../peers/smtp.js';
import { sandboxConnection } from '../helpers/sandbox.js';

const REDIRECT = 'http://127.0.0.1:1/oauth/callback';
let peer: OidcPeer;
let gmail: GmailFake;
let smtp: SmtpPeer;
let ws: Workspace;

beforeAll(async () => {
  peer = await startOidcProvider({ redirectUris: [REDIRECT], accessTokenTtl: 600, refreshTokenTtl: 3600 });
  gmail = await startGmailFake({
    verifyToken: async (t) => (await peer.introspect(t)).active,
    address: 'agent@example.com',
    scopes: ['https://www.googleapis.com/auth/gmail.readonly', 'https://www.googleapis.com/auth/gmail.send'],
  });
  smtp = await startSmtpPeer({ passwords: { 'agent@example.com': 'app-password-123' } });
  ws = makeWorkspace({
    connections: {
      gmail: sandboxConnection(peer, REDIRECT),
    },
    mailboxes: {
      agent: {
        address: 'agent@example.com',
        send: [
          { gmail: { connection: 'gmail', api_base: gmail.url } },
          {
            smtp: {
              host: smtp.host,
              port: smtp.port,
              secure: false,
              user: 'agent@example.com',
              password: 'app-password-123',
            },
          },
        ],
        read: [{ gmail: { connection: 'gmail', api_base: gmail.url } }],
      },
    },
  });
  const w = await openWarden({ configPath: ws.configPath });
  const flow = await partsOf(w).flows.open('gmail');
  await partsOf(w).flows.completeFromInput(await peer.approveAuthorization(flow.url), { via: 'test' });
  await w.close();
});

afterAll(async () => {
  await smtp?.stop();
  await gmail?.stop();
  await peer?.stop();
  ws?.cleanup();
});

describe('tokenwarden mail and check', () => {
  it('check probes the provider with the stored token', async () => {
    const r = await ws.cli(['check', 'gmail', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { probes: Array<{ outcome: string; account?: string }> };
    expect(out.probes[0]).toMatchObject({ outcome: 'ok', account: 'alice' });
  });

  it('mail send goes out through the Gmail route while OAuth is healthy', async () => {
    const r = await ws.cli(['mail', 'send', 'agent', '--to', 'bob@example.org', '--subject', 'hello', '--json'], {
      stdin: 'body from stdin',
    });
    expect(r.code).toBe(0);
    const res = JSON.parse(r.stdout) as { status: string; route: string; messageId: string };
    expect(res.status).toBe('sent');
    expect(res.route).toMatch(/^gmail/);
    expect(gmail.sent).toHaveLength(1);
  });

  it('mail list reads through the Gmail route', async () => {
    gmail.seed({ from: 'carol@example.org', to: 'agent@example.com', subject: 'status report', date: new Date() });
    const r = await ws.cli(['mail', 'list', 'agent', '--since', '1d', '--json']);
    expect(r.code).toBe(0);
    const res = JSON.parse(r.stdout) as { route: string; messages: Array<{ subject: string }> };
    expect(res.messages.map((m) => m.subject)).toContain('status report');
  });

  it('after the grant is revoked, the same send goes out over SMTP with the App Password; check exits 3', async () => {
    await peer.revokeGrantsFor();
    const r = await ws.cli([
      'mail',
      'send',
      'agent',
      '--to',
      'bob@example.org',
      '--subject',
      'still works',
      '--text',
      'hi',
      '--json',
    ]);
    expect(r.code).toBe(0);
    const res = JSON.parse(r.stdout) as { status: string; route: string; messageId: string };
    expect(res.status).toBe('sent');
    expect(res.route).toMatch(/^smtp/);
    expect(smtp.countByMessageId(res.messageId)).toBe(1);
    const check = await ws.cli(['check', 'gmail']);
    expect(check.code).toBe(3);
    expect(check.stdout).toMatch(/reauth_required/);
  });

  it('rejects a bad address before anything is queued', async () => {
    const r = await ws.cli(['mail', 'send', 'agent', '--to', 'not an address', '--subject', 'x', '--text', 'y']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/to/i);
    const w = await openWarden({ configPath: ws.configPath });
    try {
      expect((await partsOf(w).store.listMessages({ mailbox: 'agent' })).length).toBe(2);
    } finally {
      await w.close();
    }
  });
});
