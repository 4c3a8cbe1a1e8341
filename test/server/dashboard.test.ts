/**
 * Issue 5, dashboard through `app.request()`: one-time sign-in link, cookie session, CSRF on
 * every form, security headers, flows with link/QR/paste form, live event stream, escaping of
 * user-controlled text, and no secret in any page.
 */
import type { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LIKELY } from '../../src/core/errors.js';
import { createApp } from '../../src/server/app.js';
import { createLoginLink } from '../../src/server/dashboard/index.js';
import type { ServerContext } from '../../src/server/context.js';
import { startHarness, storedSecrets, type Harness } from './harness.js';
import { partsOf } from '../../src/warden.js';

let h: Harness;
const EVIL = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">';

beforeAll(async () => {
  // `markup` is authorized first by an account whose name is markup (a re-authorization of an
  // existing connection by another account would be refused).
  h = await startHarness({
    extraConnections: (peer, redirectUri) =>
      Promise.resolve({
        markup: {
          provider: 'oidc',
          issuer: peer.issuer,
          client_id: peer.clientId,
          client_secret: peer.clientSecret,
          redirect_uri: redirectUri,
          scopes: ['openid', 'offline_access'],
          flow: 'auth_code',
        },
      }),
  });
});

afterAll(async () => {
  await h?.close();
});

/** Sign in with a fresh one-time link; returns the Cookie header value. */
async function signIn(app: Hono = h.app, ctx: ServerContext = h.ctx): Promise<string> {
  const link = createLoginLink(ctx);
  const res = await app.request('/login', {
    method: 'POST',
    body: new URLSearchParams({ token: link.searchParams.get('token') ?? '' }),
  });
  expect(res.status).toBe(303);
  const cookie = res.headers.get('set-cookie') ?? '';
  return cookie.split(';')[0] ?? '';
}

async function page(cookie: string, path = '/'): Promise<{ status: number; html: string; res: Response }> {
  const res = await h.app.request(path, { headers: { cookie } });
  return { status: res.status, html: await res.text(), res };
}

/** The markup of one connection's card on the page. */
function cardOf(html: string, name: string): string {
  const start = html.indexOf(`id="conn-${name}"`);
  if (start < 0) throw new Error(`no card for ${name}`);
  const next = html.indexOf('id="conn-', start + 1);
  return html.slice(start, next < 0 ? html.indexOf('</section>', start) : next);
}

function csrfOf(html: string): string {
  const m = /name="_csrf" value="([^"]+)"/.exec(html);
  if (!m?.[1]) throw new Error('no CSRF token in page');
  return m[1];
}

describe('dashboard', () => {
  it('is closed without a session, and sends strict security headers', async () => {
    const res = await h.app.request('/');
    expect(res.status).toBe(401);
    const html = await res.text();
    expect(html).toMatch(/one-time link/);
    expect(html).not.toContain('sandbox');
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    for (const p of ['/events/stream', '/flows/x/qr.svg']) expect((await h.app.request(p)).status, p).toBe(401);
  });

  it('signs in once per link: looking does not use it, signing in does; the cookie is HttpOnly and SameSite=Strict', async () => {
    const link = createLoginLink(h.ctx);
    expect(link.origin).toBe(h.baseUrl);
    const token = link.searchParams.get('token') ?? '';
    for (let i = 0; i < 2; i++) {
      const look = await h.app.request(`${link.pathname}${link.search}`);
      expect(look.status).toBe(200);
      expect(await look.text()).toContain('Sign in');
    }
    const res = await h.app.request('/login', { method: 'POST', body: new URLSearchParams({ token }) });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/');
    const cookie = res.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/^tw_session=/);
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).not.toMatch(/Secure/);
    expect((await page(cookie.split(';')[0] ?? '')).status).toBe(200);

    const again = await h.app.request('/login', { method: 'POST', body: new URLSearchParams({ token }) });
    expect(again.status).toBe(401);
    expect(again.headers.get('set-cookie')).toBeNull();
    expect(await again.text()).toMatch(/already used or has expired/);
    const expired = createLoginLink(h.ctx, { ttlMs: 0 });
    const late = await h.app.request('/login', {
      method: 'POST',
      body: new URLSearchParams({ token: expired.searchParams.get('token') ?? '' }),
    });
    expect(late.status).toBe(401);
    expect((await page('tw_session=forged-session-id')).status).toBe(401);
  });

  it('over https the session cookie is Secure and __Host- prefixed', async () => {
    const ctx: ServerContext = { ...h.ctx, baseUrl: 'https://agent.example.com' };
    const app = createApp(ctx);
    const link = createLoginLink(ctx);
    expect(link.toString()).toMatch(/^https:\/\/agent\.example\.com\/login\?token=/);
    const res = await app.request('/login', {
      method: 'POST',
      body: new URLSearchParams({ token: link.searchParams.get('token') ?? '' }),
    });
    const cookie = res.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/^__Host-tw_session=/);
    expect(cookie).toMatch(/Secure/);
  });

  it('an API-key holder can mint a login link', async () => {
    const res = await h.api('/api/v1/dashboard/login-link', { method: 'POST' });
    expect(res.status).toBe(201);
    const { url } = (await res.json()) as { url: string };
    const u = new URL(url);
    const signIn = await h.app.request('/login', {
      method: 'POST',
      body: new URLSearchParams({ token: u.searchParams.get('token') ?? '' }),
    });
    expect(signIn.status).toBe(303);
  });

  it('shows an open flow with its link, QR code and paste form; the paste heals the connection; CSRF is enforced', async () => {
    const cookie = await signIn();
    let p = await page(cookie);
    expect(p.html).toContain('id="conn-sandbox"');
    expect(p.html).toContain('data-state="unauthorized"');
    expect(p.html).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/);

    // Ask through the dashboard's own button.
    const ask = await h.app.request('/connections/sandbox/reauth', {
      method: 'POST',
      headers: { cookie },
      body: new URLSearchParams({ _csrf: csrfOf(p.html) }),
    });
    expect(ask.status).toBe(303);
    const flow = (await partsOf(h.warden).store.listOpenFlows('sandbox'))[0];
    expect(flow).toBeDefined();
    p = await page(cookie);
    expect(p.html).toContain(`id="flow-${flow?.id}"`);
    expect(p.html).toContain(`href="${(flow?.url ?? '').replaceAll('&', '&amp;')}"`);
    expect(p.html).toContain(`/flows/${flow?.id}/qr.svg`);
    expect(p.html).toContain('action="/flows/complete"');
    expect(p.html).not.toContain(flow?.codeVerifier ?? 'no-verifier');

    const qr = await h.app.request(`/flows/${flow?.id}/qr.svg`, { headers: { cookie } });
    expect(qr.status).toBe(200);
    expect(qr.headers.get('content-type')).toBe('image/svg+xml');
    expect(await qr.text()).toMatch(/^<svg[^>]*viewBox/);

    const finalUrl = await h.peer.approveAuthorization(flow?.url ?? '');
    const code = new URL(finalUrl).searchParams.get('code') ?? '';
    // Without or with a wrong CSRF token nothing happens.
    for (const body of [
      new URLSearchParams({ input: finalUrl }),
      new URLSearchParams({ input: finalUrl, _csrf: 'guess' }),
    ]) {
      const res = await h.app.request('/flows/complete', { method: 'POST', headers: { cookie }, body });
      expect(res.status).toBe(403);
    }
    expect((await partsOf(h.warden).store.getFlow(flow?.id ?? ''))?.status).toBe('open');

    const done = await h.app.request('/flows/complete', {
      method: 'POST',
      headers: { cookie },
      body: new URLSearchParams({ input: finalUrl, _csrf: csrfOf(p.html) }),
    });
    expect(done.status).toBe(303);
    p = await page(cookie);
    expect(p.html).toContain('Accepted: sandbox is healthy again');
    expect(p.html).toContain('data-state="healthy"');
    expect(p.html).not.toContain(code);
    // The notice is shown once.
    expect((await page(cookie)).html).not.toContain('Accepted: sandbox');
  });

  it('a rejected paste says why and changes nothing', async () => {
    const cookie = await signIn();
    const p = await page(cookie);
    const res = await h.app.request('/flows/complete', {
      method: 'POST',
      headers: { cookie },
      body: new URLSearchParams({ input: 'just some words', _csrf: csrfOf(p.html) }),
    });
    expect(res.status).toBe(303);
    expect((await page(cookie)).html).toMatch(/notice error[^>]*>Not accepted/);
  });

  it('renders account and event text containing markup inert', async () => {
    const flow = await partsOf(h.warden).flows.open('markup', { reason: 'manual', fresh: true });
    await partsOf(h.warden).flows.completeFromInput(await h.peer.approveAuthorization(flow.url, { accountId: EVIL }), {
      via: 'test',
    });
    await partsOf(h.warden).sink.emit({
      type: 'probe_failed',
      connection: 'markup',
      message: `Probe said ${EVIL}`,
      data: null,
    });
    const cookie = await signIn();
    const { html } = await page(cookie);
    expect(html).toContain('&lt;script&gt;window.__pwned=1&lt;/script&gt;');
    expect(html).not.toContain('<script>window.__pwned');
    expect(html).not.toContain('<img src=x');
    // The account shows (escaped) on the connection card and the event in the timeline.
    expect(html.match(/&lt;script&gt;window.__pwned=1/g)?.length).toBeGreaterThanOrEqual(2);
  });

  it('shows a learned lifetime with its diagnosis, and says when a cause is inferred', async () => {
    const now = Date.now();
    await partsOf(h.warden).store.ensureConnection('markup', now);
    const learned = {
      id: 'session_limit',
      confidence: 'likely' as const,
      summary: 'The last 2 grants each died about 7d after consent, so a policy most likely limits sign-ins.',
      fix: 'Re-authorize now; ask the administrator to lengthen the session limit.',
    };
    await partsOf(h.warden).store.updateConnection(
      'markup',
      {
        lifetime: {
          deathAges: [7 * 86_400_000, 7 * 86_400_000],
          lifetimeMs: 7 * 86_400_000,
          cause: learned,
          learnedAt: now,
        },
      },
      { now },
    );
    const cookie = await signIn();
    let card = cardOf((await page(cookie)).html, 'markup');
    expect(card).toContain('Renewal planned before 7d after consent (learned from 2 deaths of earlier grants).');
    expect(card).toContain(`data-confidence="likely"`);
    expect(card).toContain(`${LIKELY} ${learned.summary}`);
    expect(card).toContain(`Fix: ${learned.fix}`);

    // A current cause that is the learned one is said once; a known cause carries no "Likely" prefix.
    await partsOf(h.warden).store.updateConnection('markup', { cause: learned }, { now });
    card = cardOf((await page(cookie)).html, 'markup');
    expect(card).toContain('Renewal planned before 7d after consent');
    expect(card.split(learned.summary).length - 1).toBe(1);
    await partsOf(h.warden).store.updateConnection(
      'markup',
      { cause: { ...learned, id: 'revoked', confidence: 'known' } },
      { now },
    );
    card = cardOf((await page(cookie)).html, 'markup');
    expect(card).toContain(`<div>${learned.summary}</div>`);
    expect(card).toContain(`${LIKELY} ${learned.summary}`);
    await partsOf(h.warden).store.updateConnection('markup', { cause: null, lifetime: null }, { now });
  });

  it('streams events live to a signed-in page', async () => {
    const cookie = await signIn();
    const res = await h.app.request('/events/stream', { headers: { cookie } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const dec = new TextDecoder();
    let buf = '';
    const readUntil = async (re: RegExp): Promise<string> => {
      while (!re.test(buf)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended before ${re}: ${buf}`);
        buf += dec.decode(value);
      }
      return buf;
    };
    await readUntil(/event: hello/);
    await partsOf(h.warden).sink.emit({
      type: 'probe_ok',
      connection: 'sandbox',
      message: 'Probe ok: live',
      data: null,
    });
    const last = (await partsOf(h.warden).store.listEvents({ newestFirst: true, limit: 1 }))[0];
    const got = await readUntil(new RegExp(`id: ${last?.id}`));
    expect(got).toMatch(/event: warden/);
    expect(got).toContain('"type":"probe_ok"');
    expect(got).not.toContain('Probe ok: live');
    await reader.cancel();
  });

  it('serves its script and stylesheet from its own origin', async () => {
    const js = await h.app.request('/assets/dashboard.js');
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toMatch(/javascript/);
    expect(await js.text()).toContain("new EventSource('/events/stream')");
    expect((await h.app.request('/assets/dashboard.css')).headers.get('content-type')).toMatch(/text\/css/);
  });

  it('never puts a stored token or verifier in a page', async () => {
    await partsOf(h.warden).store.updateConnection('sandbox', { accessExpiresAt: Date.now() - 1 }, { now: Date.now() });
    await partsOf(h.warden).keeper.forceRefresh('sandbox');
    await h.api('/api/v1/connections/sandbox/reauth', { method: 'POST' });
    const cookie = await signIn();
    const secrets = await storedSecrets(h.warden, 'sandbox');
    const flows = await partsOf(h.warden).store.listFlows({ limit: 100 });
    secrets.push(...flows.map((f) => f.codeVerifier).filter((x): x is string => !!x));
    expect(secrets.length).toBeGreaterThan(3);
    const pages = [(await page(cookie)).html, (await page(cookie, '/?partial=1')).html, h.logs.join('\n')];
    for (const s of secrets) for (const p of pages) expect(p).not.toContain(s);
  });
});
