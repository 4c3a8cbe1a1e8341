/**
 * Secret hygiene: run the representative flows end to end — authorize by paste
 * over the HTTP API, refresh with rotation, serve a token, send mail over an SMTP route with an
 * App Password, revoke the grant and hit every error path — then search everything tokenwarden
 * wrote or answered (store file + WAL, logs, events, metrics, dashboard HTML, status, error
 * messages and bodies) for every secret value involved: access, refresh and ID tokens (captured
 * from the store: oidc-provider picks them), the authorization code, the PKCE verifier, the
 * client secret, the App Password and the API key. Target: 0 occurrences outside the token
 * endpoint's own answer (`POST /api/v1/connections/:name/token`).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLoginLink } from '../../src/server/dashboard/sessions.js';
import { startSmtpPeer, type SmtpPeer } from '../peers/smtp.js';
import { API_KEY, startHarness, storedSecrets, type Harness } from '../server/harness.js';
import { partsOf } from '../../src/warden.js';

const APP_PASSWORD = 'hygiene-APP-PASSWORD-4b1d9c77e2';
let h: Harness;
let smtp: SmtpPeer;
const secrets = new Map<string, string>(); // label → value
const outputs = new Map<string, string>(); // where → text

function remember(label: string, value: string | null | undefined): void {
  if (value && value.length >= 8) secrets.set(label, value);
}

beforeAll(async () => {
  smtp = await startSmtpPeer({ passwords: { 'agent@example.com': APP_PASSWORD } });
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
              password: APP_PASSWORD,
            },
          },
        ],
      },
    },
  });
  remember('app password', APP_PASSWORD);
  remember('api key', API_KEY);
  remember('client secret', h.peer.clientSecret);
}, 60_000);

afterAll(async () => {
  await h?.close();
  await smtp?.stop();
});

describe('no secret outside the token endpoint answer', () => {
  it('authorize, refresh, serve, mail, revoke: store, WAL, logs, events, metrics, HTML and errors are clean', async () => {
    const w = h.warden;
    // Authorize: the human's final URL (carrying the code) is pasted through the HTTP API.
    const flow = await partsOf(w).flows.open('sandbox', { reason: 'manual' });
    remember('pkce verifier', flow.codeVerifier);
    const finalUrl = await h.peer.approveAuthorization(flow.url);
    remember('authorization code', new URL(finalUrl).searchParams.get('code'));
    const done = await h.api('/api/v1/flows/complete', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input: finalUrl }),
    });
    outputs.set('flows/complete response', await done.text());
    expect(done.status).toBe(200);
    for (const [i, s] of (await storedSecrets(w, 'sandbox')).entries()) remember(`grant token ${i}`, s);

    // Refresh with rotation (twice): every generation of tokens is a secret.
    for (let r = 0; r < 2; r++) {
      await partsOf(w).keeper.forceRefresh('sandbox');
      for (const [i, s] of (await storedSecrets(w, 'sandbox')).entries()) remember(`refresh ${r} token ${i}`, s);
    }
    // The token endpoint's own answer: the one place a token may appear.
    const served = await h.api('/api/v1/connections/sandbox/token', { method: 'POST' });
    expect(served.status).toBe(200);
    expect(await served.text()).toContain((await partsOf(w).store.getConnection('sandbox'))?.accessToken ?? 'missing');

    // Mail over the App Password route.
    const sent = await h.api('/api/v1/mailboxes/agent/send', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ to: 'bob@example.org', subject: 'hygiene', text: 'hello' }),
    });
    outputs.set('mail send response', await sent.text());
    expect(smtp.received.length).toBe(1);

    // Errors: a bad API key, a garbage paste, then a revoked grant.
    outputs.set(
      '401 body',
      await (await h.app.request('/api/v1/connections', { headers: { authorization: `Bearer ${API_KEY}x` } })).text(),
    );
    outputs.set(
      'bad paste body',
      await (
        await h.api('/api/v1/flows/complete', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ input: `${finalUrl}&again=1` }),
        })
      ).text(),
    );
    await h.peer.revokeGrantsFor();
    const refusal = await partsOf(w)
      .keeper.forceRefresh('sandbox')
      .then(
        () => null,
        (e: unknown) => e as Error & { toJSON?: () => unknown },
      );
    expect(refusal).not.toBeNull();
    outputs.set(
      'reauth error',
      `${refusal?.message} ${JSON.stringify(refusal)} ${String(refusal?.stack)} ${JSON.stringify(refusal?.toJSON?.())}`,
    );
    outputs.set('reauth 409 body', await (await h.api('/api/v1/connections/sandbox/token', { method: 'POST' })).text());

    // Everything tokenwarden shows or keeps.
    outputs.set('status', JSON.stringify(await w.status()));
    outputs.set('connections API', await (await h.api('/api/v1/connections')).text());
    outputs.set('events API', await (await h.api('/api/v1/events?limit=1000')).text());
    outputs.set('events (store)', JSON.stringify(await partsOf(w).store.listEvents({ limit: 10_000 })));
    outputs.set('metrics', await (await h.api('/metrics')).text());
    const link = createLoginLink(h.ctx);
    const login = await h.app.request('/login', {
      method: 'POST',
      body: new URLSearchParams({ token: link.searchParams.get('token') ?? '' }),
    });
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    const page = await h.app.request('/', { headers: { cookie } });
    const html = await page.text();
    expect(html).toMatch(/<html/i);
    outputs.set('dashboard HTML', html);
    outputs.set('logs', h.logs.join('\n'));
    expect(h.logs.length).toBeGreaterThan(3);
    // The store on disk, main file and write-ahead log, read while open (the WAL holds recent writes).
    const dbDir = join(h.ws.dir, '.tokenwarden');
    for (const f of readdirSync(dbDir))
      if (f.startsWith('state.db')) outputs.set(`file ${f}`, readFileSync(join(dbDir, f)).toString('latin1'));
    expect([...outputs.keys()].some((k) => k.endsWith('-wal'))).toBe(true);

    // The search.
    expect(secrets.size).toBeGreaterThanOrEqual(9);
    const leaks: string[] = [];
    for (const [where, text] of outputs)
      for (const [label, value] of secrets) if (text.includes(value)) leaks.push(`${label} in ${where}`);
    expect(leaks).toEqual([]);
    // The search is able to find what it looks for.
    expect(outputs.get('logs')).not.toContain(APP_PASSWORD);
    expect(`x${APP_PASSWORD}x`.includes(secrets.get('app password') as string)).toBe(true);
  }, 60_000);
});
