/**
 * DNS rebinding in a real browser (playwright-core driving Debian's Chromium): a page on the
 * attacker's host name, once that name resolves to 127.0.0.1, makes same-origin requests to the
 * daemon. The daemon answers only to its own host names, so the page reads nothing — neither
 * metrics nor the dashboard — while the same requests by the daemon's address work.
 */
import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startHarness, type Harness } from './harness.js';

let h: Harness;
let server: Server;
let browser: Browser;
let page: Page;
let port: number;

beforeAll(async () => {
  port = await freePort();
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
      // The rebinding: the attacker's name now resolves to the daemon's loopback address.
      '--host-resolver-rules=MAP rebind.attacker.test 127.0.0.1',
    ],
  });
  page = await (await browser.newContext()).newPage();
});

afterAll(async () => {
  await browser?.close();
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  await h?.close();
});

/** What a script on the current page can read with a same-origin fetch. */
const readFrom = (path: string): Promise<{ status: number; text: string }> =>
  page.evaluate(async (p) => {
    const r = await fetch(p);
    return { status: r.status, text: await r.text() };
  }, path);

describe('DNS rebinding', () => {
  it("a page on the attacker's name reads neither metrics nor the dashboard", async () => {
    const landing = await page.goto(`http://rebind.attacker.test:${port}/healthz`);
    expect(landing?.status()).toBe(421);
    for (const path of ['/metrics', '/', '/login', '/healthz']) {
      const got = await readFrom(path);
      expect(got.status).toBe(421);
      expect(got.text).not.toMatch(/tokenwarden_|<form|"ok"/);
    }
  });

  it("the daemon's own address serves the same routes", async () => {
    const landing = await page.goto(`http://127.0.0.1:${port}/healthz`);
    expect(landing?.status()).toBe(200);
    const metrics = await readFrom('/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.text).toMatch(/tokenwarden_/);
  });
});
