/**
 * Issue 5, the dashboard in a real browser (playwright-core driving Debian's Chromium) over a
 * real socket: sign in with the one-time link; see the connection healthy; the grant is
 * revoked at oidc-provider and a refresh fails, and the page (live, over SSE) shows it waiting
 * for a human with the link; the human approves and pastes the redirect URL into the form;
 * the connection is healthy again. Hostile text renders inert; screenshots go to test-output/.
 */
import { mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLoginLink } from '../../src/server/dashboard/index.js';
import { freePort, startHarness, storedSecrets, type Harness } from './harness.js';
import { partsOf } from '../../src/warden.js';

const OUT = join(import.meta.dirname, '..', '..', 'test-output');
const EVIL = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">';

let h: Harness;
let server: Server;
let browser: Browser;
let page: Page;
const cspErrors: string[] = [];

beforeAll(async () => {
  mkdirSync(OUT, { recursive: true });
  const port = await freePort();
  h = await startHarness({ port });
  await new Promise<void>((resolve) => {
    server = serve({ fetch: h.app.fetch, hostname: '127.0.0.1', port }, () => resolve()) as Server;
  });
  browser = await chromium.launch({
    executablePath: process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  // A phone-sized viewport: the dashboard must work there.
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2 });
  page = await context.newPage();
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) cspErrors.push(m.text());
  });
});

afterAll(async () => {
  await browser?.close();
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  await h?.close();
});

describe('dashboard in Chromium', () => {
  it('sign in, watch a revoked grant go to awaiting_human live, paste the redirect URL, healthy again', async () => {
    await h.authorize();

    await page.goto(createLoginLink(h.ctx).toString());
    await page.click('#sign-in');
    await page.waitForURL(`${h.baseUrl}/`);
    await page.waitForSelector('#conn-sandbox[data-state="healthy"]');
    // The event stream is connected before anything changes.
    await page.waitForSelector('body[data-live="1"]');
    expect(await page.textContent('#conn-sandbox')).toMatch(/access token expires\s*in \d+m/);

    // The user removes the app's access at the provider; the next refresh is refused.
    await h.peer.revokeGrantsFor();
    await expect(partsOf(h.warden).keeper.forceRefresh('sandbox')).rejects.toMatchObject({
      code: 'TW_REAUTH_REQUIRED',
    });

    // No reload: the page updates itself over SSE.
    await page.waitForSelector('#conn-sandbox[data-state="awaiting_human"]');
    const link = page.locator('#flows a.flow-link');
    await link.waitFor();
    const href = (await link.getAttribute('href')) ?? '';
    expect(href.startsWith(h.peer.issuer)).toBe(true);
    expect(await page.locator('#flows .cause .fix').first().textContent()).toMatch(/^Fix: /);
    const qr = page.locator('#flows img.qr');
    await expect.poll(() => qr.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth > 0)).toBe(true);
    await page.screenshot({ path: join(OUT, 'dashboard-awaiting-human.png'), fullPage: true });

    // The human opens the link elsewhere, approves, and pastes where their browser ended up.
    const finalUrl = await h.peer.approveAuthorization(href);
    await page.fill('#flows textarea[name="input"]', finalUrl);
    await page.click('#flows button[type="submit"]');
    await page.waitForSelector('#conn-sandbox[data-state="healthy"]');
    expect(await page.textContent('.notice.ok')).toContain('Accepted: sandbox is healthy again');
    expect(await page.locator('#flows').count()).toBe(0);
    const token = await h.warden.accessToken('sandbox');
    expect((await h.peer.introspect(token)).active).toBe(true);

    // Hostile text in an event arrives live and stays text.
    await page.waitForSelector('body[data-live="1"]');
    await partsOf(h.warden).sink.emit({
      type: 'probe_failed',
      connection: 'sandbox',
      message: `Probe said ${EVIL}`,
      data: null,
    });
    await page.locator('#timeline li', { hasText: 'Probe said <script>' }).first().waitFor();
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();

    const html = await page.content();
    for (const s of await storedSecrets(h.warden, 'sandbox')) expect(html).not.toContain(s);
    expect(html).not.toContain(new URL(finalUrl).searchParams.get('code') ?? 'no-code');
    expect(cspErrors).toEqual([]);
    await page.screenshot({ path: join(OUT, 'dashboard-healthy.png'), fullPage: true });
  });
});
