/**
 * The daemon runs the outbox: a message queued while every route is down is delivered by the
 * daemon's loop when SMTP returns, and the `email` channel reaches the human through the
 * mailbox's App Password route while the OAuth connection awaits re-authorization.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import { makeWorkspace, type Workspace } from '../helpers/workspace.js';
import { startOidcProvider, type OidcPeer } from '../peers/oidc-provider.js';
import { startSmtpPeer, type SmtpPeer } from '../peers/smtp.js';

let oidc: OidcPeer;
let smtp: SmtpPeer;
let ws: Workspace;
let daemon: Daemon;
const REDIRECT = 'http://127.0.0.1:1/oauth/callback';
const API_KEY = 'serve-mail-api-key-0123456789';

beforeAll(async () => {
  oidc = await startOidcProvider({ redirectUris: [REDIRECT], accessTokenTtl: 600, refreshTokenTtl: 3600 });
  smtp = await startSmtpPeer({ passwords: { 'agent@example.com': 'app-pw-42' } });
  ws = makeWorkspace({
    server: { listen: '127.0.0.1:0', api_key: API_KEY },
    channels: { mail: { type: 'email', mailbox: 'agent', to: 'human@example.org' } },
    connections: {
      sandbox: {
        provider: 'oidc',
        issuer: oidc.issuer,
        client_id: oidc.clientId,
        client_secret: oidc.clientSecret,
        redirect_uri: REDIRECT,
        scopes: ['openid', 'offline_access'],
        flow: 'auth_code',
        notify: ['mail'],
      },
    },
    mailboxes: {
      agent: {
        address: 'agent@example.com',
        send: [
          {
            smtp: { host: smtp.host, port: smtp.port, secure: false, user: 'agent@example.com', password: 'app-pw-42' },
          },
        ],
      },
    },
  });
  daemon = await startDaemon({ configPath: ws.configPath, scheduler: { probeIntervalMs: 0 } });
});

afterAll(async () => {
  await daemon?.close();
  await smtp?.stop();
  await oidc?.stop();
  ws?.cleanup();
});

describe('serve with mailboxes', () => {
  it('hands out a dashboard sign-in link that the server honours', async () => {
    const link = daemon.loginLink();
    expect(link.origin).toBe(new URL(daemon.server.url).origin);
    const res = await fetch(link);
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/sign in/i);
  });

  it('the email channel sends the re-authorization link through the mailbox', async () => {
    const before = smtp.received.length;
    const flow = await daemon.orchestrator.requestReauth('sandbox', { reason: 'manual' });
    expect(flow.askedVia).toEqual(['mail']);
    await smtp.waitForCount(before + 1);
    const msg = smtp.received.at(-1);
    expect(msg?.envelope.to).toEqual(['human@example.org']);
    expect(msg?.raw.toString()).toContain(new URL(flow.url).origin);
  });

  it('a message queued while SMTP is down is delivered by the daemon loop when it returns', async () => {
    await smtp.setDown(true);
    const r = await daemon.warden
      .mailbox('agent')
      .send({ to: 'bob@example.org', subject: 'queued while down', text: 'hello' });
    expect(r.status).toBe('queued');
    const before = smtp.received.length;
    await smtp.setDown(false);
    await smtp.waitForCount(before + 1, 30_000);
    expect(smtp.countByMessageId(r.messageId)).toBe(1);
  });

  it('concurrent sends with one Idempotency-Key answer the real outcome, and one copy goes out', async () => {
    const before = smtp.received.length;
    const post = (): Promise<Response> =>
      fetch(`${daemon.server.url}/api/v1/mailboxes/agent/send`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${API_KEY}`,
          'content-type': 'application/json',
          'idempotency-key': 'report-concurrent-1',
        },
        body: JSON.stringify({ to: 'carol@example.org', subject: 'once', text: 'only one copy' }),
      });
    const answers = await Promise.all([post(), post(), post(), post()]);
    const bodies = (await Promise.all(answers.map((r) => r.json()))) as Array<{
      id: string;
      message_id: string;
      status: string;
    }>;
    // Every caller hears "sent", none "queued": the message did go out.
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(bodies.map((b) => b.status)).toEqual(['sent', 'sent', 'sent', 'sent']);
    expect(new Set(bodies.map((b) => b.id)).size).toBe(1);
    await smtp.waitForCount(before + 1);
    expect(smtp.countByMessageId(bodies[0]?.message_id ?? '')).toBe(1);
    // Asked again later: the same outcome from the outbox.
    const later = await post();
    expect(later.status).toBe(200);
    expect(((await later.json()) as { status: string }).status).toBe('sent');
    expect(smtp.received.length).toBe(before + 1);
  });
});
