/**
 * Issue 5, `/metrics` and mail over HTTP: gauges read from the store at scrape time, counters
 * fed by live events (refresh outcomes, re-auth latency, probes, mail per route), outbox depth
 * — with a real oidc-provider and a real SMTP server behind a mailbox.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeConnection } from '../../src/keeper/probe.js';
import { startSmtpPeer, type SmtpPeer } from '../peers/smtp.js';
import { startHarness, storedSecrets, type Harness } from './harness.js';
import { partsOf } from '../../src/warden.js';

let h: Harness;
let smtp: SmtpPeer;

beforeAll(async () => {
  smtp = await startSmtpPeer({ passwords: { 'agent@example.com': 'app-password-1' } });
  h = await startHarness({
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
              password: 'app-password-1',
            },
          },
        ],
      },
    },
  });
});

afterAll(async () => {
  await h?.close();
  await smtp?.stop();
});

async function scrape(): Promise<string> {
  const res = await h.app.request('/metrics');
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return res.text();
}

/** The value of one series, e.g. `tokenwarden_refresh_total{connection="sandbox",outcome="success"}`. */
function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const json = (body: unknown): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

describe('/metrics', () => {
  it("tracks state, expiries, refresh outcomes and re-auth latency through a grant's life", async () => {
    let m = await scrape();
    expect(value(m, 'tokenwarden_connection_state{connection="sandbox",state="unauthorized"}')).toBe(1);
    expect(value(m, 'tokenwarden_connection_state{connection="sandbox",state="healthy"}')).toBe(0);
    expect(value(m, 'tokenwarden_refresh_total{connection="sandbox",outcome="success"}')).toBe(0);
    expect(value(m, 'tokenwarden_reauth_latency_seconds_count')).toBe(0);

    await h.authorize();
    await partsOf(h.warden).keeper.forceRefresh('sandbox');
    m = await scrape();
    expect(value(m, 'tokenwarden_connection_state{connection="sandbox",state="healthy"}')).toBe(1);
    expect(value(m, 'tokenwarden_connection_state{connection="sandbox",state="unauthorized"}')).toBe(0);
    const expiry = value(m, 'tokenwarden_access_token_expiry_seconds{connection="sandbox"}') ?? 0;
    expect(expiry).toBeGreaterThan(250);
    expect(expiry).toBeLessThanOrEqual(300);
    expect(value(m, 'tokenwarden_refresh_total{connection="sandbox",outcome="success"}')).toBe(1);
    expect(value(m, 'tokenwarden_reauth_latency_seconds_count')).toBe(1);
    expect(value(m, 'tokenwarden_reauth_latency_seconds_bucket{le="5"}')).toBe(1);

    await h.peer.revokeGrantsFor();
    await expect(partsOf(h.warden).keeper.forceRefresh('sandbox')).rejects.toMatchObject({
      code: 'TW_REAUTH_REQUIRED',
    });
    m = await scrape();
    expect(value(m, 'tokenwarden_refresh_total{connection="sandbox",outcome="definitive"}')).toBe(1);
    expect(value(m, 'tokenwarden_connection_state{connection="sandbox",state="healthy"}')).toBe(0);
    const dead =
      (value(m, 'tokenwarden_connection_state{connection="sandbox",state="reauth_required"}') ?? 0) +
      (value(m, 'tokenwarden_connection_state{connection="sandbox",state="awaiting_human"}') ?? 0);
    expect(dead).toBe(1);
  });

  it('counts probes by outcome', async () => {
    await h.authorize();
    await probeConnection(partsOf(h.warden), 'sandbox');
    const m = await scrape();
    const total = m
      .split('\n')
      .filter((l) => l.startsWith('tokenwarden_probe_total{connection="sandbox"'))
      .map((l) => Number(l.split(' ').at(-1)));
    expect(total.reduce((a, b) => a + b, 0)).toBe(1);
  });

  it('mail sent through the API shows per route; a queued message shows in the outbox depth', async () => {
    const res = await h.api(
      '/api/v1/mailboxes/agent/send',
      json({ to: 'bob@example.com', subject: 'hello', text: 'from the HTTP API' }),
    );
    expect(res.status).toBe(200);
    const sent = (await res.json()) as { status: string; message_id: string; route: string };
    expect(sent.status).toBe('sent');
    expect(smtp.countByMessageId(sent.message_id)).toBe(1);
    let m = await scrape();
    expect(value(m, `tokenwarden_mail_sent_total{mailbox="agent",route="${sent.route}",outcome="sent"}`)).toBe(1);
    expect(value(m, 'tokenwarden_outbox_depth{mailbox="agent",status="pending"}')).toBe(0);

    const bad = await h.api('/api/v1/mailboxes/agent/send', json({ to: 'not an address', subject: 'x', text: 'x' }));
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('TW_BAD_INPUT');
    const unknown = await h.api(
      '/api/v1/mailboxes/nobody/send',
      json({ to: 'bob@example.com', subject: 'x', text: 'x' }),
    );
    expect(unknown.status).toBe(404);

    await smtp.setDown(true);
    try {
      const queued = await h.api(
        '/api/v1/mailboxes/agent/send',
        json({ to: 'bob@example.com', subject: 'later', text: 'queued while down' }),
      );
      expect(queued.status).toBe(202);
      expect(((await queued.json()) as { status: string }).status).toBe('queued');
      m = await scrape();
      expect(value(m, 'tokenwarden_outbox_depth{mailbox="agent",status="pending"}')).toBe(1);
    } finally {
      await smtp.setDown(false);
    }
  });

  it('never exposes a token, account or message text', async () => {
    const m = await scrape();
    for (const s of await storedSecrets(h.warden, 'sandbox')) expect(m).not.toContain(s);
    expect(m).not.toContain('alice');
    expect(m).not.toContain('app-password-1');
    expect(m).not.toMatch(/^[a-z_]+\{[^}]*message=/m);
  });
});
