/**
 * The human's message, read as the human sees it in every channel: what happened (the diagnosis,
 * marked as likely when it is inferred), what to do now (the link once, its expiry, where to
 * paste), what to change so it does not happen again, and what still works meanwhile.
 *
 * The grant dies for real first — Google's exact `invalid_grant` body from a stand-in token
 * endpoint 7 days after consent — so the message carries the diagnosis the keeper made.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createChannel, type Channel, type WebhookPayload } from '../../src/channels/index.js';
import { FakeClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { notifyFlow } from '../../src/reauth/notify.js';
import { generateKey } from '../../src/store/key.js';
import { openWarden, type Warden, partsOf } from '../../src/warden.js';
import { startFakeHttp, type FakeHttp } from '../oauth/fake-http.js';
import { startHttpSink, type HttpSink } from '../peers/http-sink.js';
import { DEFAULT_USER_ID, startTelegramPeer, type TelegramPeer } from '../peers/telegram.js';

const DAY = 86_400_000;
const REDIRECT = 'http://127.0.0.1:1/oauth/callback';
const CAUSE = /The grant died 7 days after consent, so the Google app is most likely in Testing/;
const HEDGE = 'Likely cause (inferred from the facts, not stated by the provider): The grant died';
const FIX =
  'So it does not happen again: To stop the weekly expiry, publish the app to production (Google Cloud console → OAuth consent screen → Publish app). Until then tokenwarden asks for a renewal before day 7.';
const FALLBACKS = 'Meanwhile still works: mailbox agent: send via smtp smtp.example.com (app password).';
const PASTE =
  "If the page your browser ends on does not load, copy its address and run: tokenwarden complete '<that address>'";

let google: FakeHttp;
let sink: HttpSink;
let tg: TelegramPeer;
let dir: string;
let warden: Warden;
let link: string;
const clock = new FakeClock(Date.UTC(2026, 2, 2, 9, 0));
const stderr: string[] = [];
const mails: Array<{ subject: string; text: string }> = [];

beforeAll(async () => {
  google = await startFakeHttp();
  sink = await startHttpSink();
  tg = await startTelegramPeer();
  dir = mkdtempSync(join(tmpdir(), 'tw-msg-'));
  let consentAt = 0;
  google.route('POST', '/token', (req) => {
    if (req.form.get('grant_type') === 'authorization_code') {
      consentAt = clock.now();
      return {
        status: 200,
        body: {
          access_token: 'ya29.a',
          expires_in: 3599,
          token_type: 'Bearer',
          refresh_token: '1//rt',
          scope: 'openid https://www.googleapis.com/auth/gmail.send',
        },
      };
    }
    return clock.now() - consentAt >= 7 * DAY
      ? { status: 400, body: { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' } }
      : { status: 200, body: { access_token: 'ya29.r', expires_in: 3599, token_type: 'Bearer' } };
  });
  warden = await openWarden({
    config: {
      store: `sqlite:${join(dir, 'state.db')}`,
      key: 'env:TW_KEY',
      connections: {
        mail: {
          provider: 'google',
          client_id: 'cid',
          client_secret: 'csecret',
          redirect_uri: REDIRECT,
          auth_url: `${google.url}/auth`,
          token_url: `${google.url}/token`,
          flow: 'auth_code',
          scopes: ['openid', 'https://www.googleapis.com/auth/gmail.send'],
        },
      },
      mailboxes: {
        agent: {
          address: 'agent@example.com',
          send: [
            { gmail: 'mail' },
            { smtp: { host: 'smtp.example.com', port: 465, user: 'agent@example.com', password: 'app-pass' } },
          ],
        },
      },
    },
    baseDir: dir,
    env: { TW_KEY: generateKey().toString('base64') },
    clock,
  });
  const first = await partsOf(warden).flows.open('mail');
  const state = new URL(first.url).searchParams.get('state') ?? '';
  await partsOf(warden).flows.completeFromInput(`${REDIRECT}?state=${state}&code=4/0A`, { via: 'test' });
  await clock.advance(7 * DAY + 60_000);
  await partsOf(warden)
    .keeper.forceRefresh('mail')
    .catch(() => undefined);

  // The human is asked once through every kind of channel.
  const deps = { clock, logger: silentLogger };
  const channels: Record<string, Channel> = {
    tg: createChannel(
      'tg',
      {
        type: 'telegram',
        bot_token: tg.token,
        chat_id: DEFAULT_USER_ID,
        allow_from: [DEFAULT_USER_ID],
        api_root: tg.apiRoot,
      },
      deps,
    ),
    team: createChannel('team', { type: 'slack', url: `${sink.url}/slack` }, deps),
    push: createChannel('push', { type: 'ntfy', url: `${sink.url}/ntfy` }, deps),
    hook: createChannel('hook', { type: 'webhook', url: `${sink.url}/hook` }, deps),
    term: createChannel('term', { type: 'console' }, { ...deps, writeStderr: (t) => stderr.push(t) }),
    mailme: createChannel(
      'mailme',
      { type: 'email', mailbox: 'agent', to: 'owner@example.com' },
      {
        ...deps,
        sendMail: (_to, subject, text) => {
          mails.push({ subject, text });
          return Promise.resolve();
        },
      },
    ),
  };
  const flow = await partsOf(warden).flows.open('mail');
  link = flow.url;
  const sent = await notifyFlow(partsOf(warden), flow, Object.keys(channels), {
    channelImpl: (n) => Promise.resolve(channels[n] as Channel),
  });
  expect(sent).toEqual(Object.keys(channels));
});

afterAll(async () => {
  await warden?.close();
  await tg?.stop();
  await sink?.stop();
  await google?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const count = (text: string, needle: string): number => text.split(needle).length - 1;
const htmlEscaped = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The same four parts in plain text, in order, with the link once and nothing broken. */
function expectPlain(text: string): void {
  expect(text).toMatch(CAUSE);
  expect(text).toContain(HEDGE);
  expect(text).toContain('Open the link, sign in and approve.');
  expect(count(text, link)).toBe(1);
  expect(text).toContain(`Open: ${link}`);
  expect(text).toContain('Expires in 10 minutes (09:11 UTC).');
  expect(text).toContain(PASTE);
  expect(text).toContain(FIX);
  expect(text).toContain(FALLBACKS);
  expect(text.indexOf('most likely')).toBeLessThan(text.indexOf('Open the link'));
  expect(text.indexOf(`Open: ${link}`)).toBeLessThan(text.indexOf('So it does not happen again'));
  expect(text.indexOf('So it does not happen again')).toBeLessThan(text.indexOf('Meanwhile still works'));
  expect(text).not.toMatch(/Reason:|Or paste it at|paste its address: If|: Then run/);
}

describe('the re-authorization message in every channel', () => {
  it('console (stderr) and email (plain text)', () => {
    expectPlain(
      stderr
        .join('')
        .split('\n')
        .map((l) => l.trim())
        .join('\n'),
    );
    expect(mails).toHaveLength(1);
    expect(mails[0]?.subject).toBe('[tokenwarden] Re-authorize mail (Google)');
    expectPlain(mails[0]?.text ?? '');
  });

  it('ntfy: the plain body, the link as the click action', () => {
    const r = sink.requests.find((q) => q.path === '/ntfy');
    expectPlain(r?.body ?? '');
    expect(r?.headers['click']).toBe(link);
  });

  it('Telegram: escaped HTML, the link once behind "Open the authorization page", the answer goes back in the chat', () => {
    const [m] = tg.botMessages(DEFAULT_USER_ID);
    const html = m?.text ?? '';
    expect(html).toMatch(CAUSE);
    expect(html).toContain(HEDGE);
    expect(count(html, htmlEscaped(link))).toBe(1);
    expect(html).toContain(`<a href="${htmlEscaped(link)}">Open the authorization page</a>`);
    expect(html).toContain('Expires in 10 minutes (09:11 UTC).');
    expect(html).toContain('copy the address your browser ends on (even if the page does not load) and send it here.');
    expect(html).not.toContain('tokenwarden complete'); // one way to answer, the one at hand
    expect(html).toContain(htmlEscaped(FIX));
    expect(html).toContain(FALLBACKS);
    expect(html.match(/<\/?[a-z]+[^>]*>/g)?.every((t) => /^<\/?(b|a)( href="[^"]*")?>$/.test(t))).toBe(true);
  });

  it('Slack: mrkdwn with the link once as <url|Open>', () => {
    const body = sink.requests.find((q) => q.path === '/slack')?.json<{ blocks: Array<{ text: { text: string } }> }>();
    const mrkdwn = body?.blocks[0]?.text.text ?? '';
    expect(mrkdwn).toMatch(CAUSE);
    expect(mrkdwn).toContain(HEDGE);
    expect(count(mrkdwn, '|Open>')).toBe(1);
    expect(mrkdwn).toContain(`<${htmlEscaped(link)}|Open>`);
    expect(mrkdwn).toContain(htmlEscaped(PASTE));
    expect(mrkdwn).toContain(htmlEscaped(FIX));
    expect(mrkdwn).toContain(FALLBACKS);
  });

  it('webhook: the parts as fields', () => {
    const p = sink.requests.find((q) => q.path === '/hook')?.json<WebhookPayload>();
    expect(p?.cause).toMatch(CAUSE);
    expect(p?.text).toBe('Open the link, sign in and approve.');
    expect(`So it does not happen again: ${p?.fix}`).toBe(FIX);
    expect(p?.fallbacks).toEqual(['mailbox agent: send via smtp smtp.example.com (app password)']);
    expect(p?.url).toBe(link);
    expect(p?.pasteHint).toBe(PASTE);
  });
});
