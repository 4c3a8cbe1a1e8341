/**
 * The mail proxies in-process, against real peers (smtp-server, Dovecot) and the Gmail fake:
 * config rules, the login rate limit, raw messages through the outbox on every route kind,
 * SMTP limits, the IMAP front's protocol (literals, AUTHENTICATE PLAIN, SASL-IR), App Password
 * fallback while the grant awaits its human, the UNAVAILABLE sentence, and TLS on the local side.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import fc from 'fast-check';
import { createTransport } from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { systemClock } from '../../src/core/clock.js';
import { createMailService, MAX_RECIPIENTS, type MailService } from '../../src/mail/index.js';
import { AuthGate } from '../../src/proxy/auth.js';
import { parseCommand } from '../../src/proxy/imap.js';
import { startProxies, type RunningProxies } from '../../src/proxy/index.js';
import { startSmtpProxy } from '../../src/proxy/smtp.js';
import type { FlowRecord } from '../../src/store/types.js';
import { startDovecot, type DovecotPeer } from '../peers/dovecot.js';
import { startGmailFake, type GmailFake } from '../peers/gmail-fake.js';
import { startGraphFake, type GraphFake } from '../peers/graph-fake.js';
import { startSmtpPeer, type SmtpPeer } from '../peers/smtp.js';
import {
  FakeClock,
  RecordingEvents,
  StubTokens,
  mailConfig,
  openTestStore,
  silentLogger,
  type TestStore,
} from '../mail/helpers.js';

const ADDRESS = 'agent@example.com';
const APP_PASSWORD = 'imap-app-password-9';
const PW = 'proxy-password-for-tests';

describe('config', () => {
  const base = {
    mailboxes: {
      agent: {
        address: ADDRESS,
        send: [{ smtp: { host: '127.0.0.1', port: 25, user: ADDRESS, password: 'x' } }],
        read: [{ imap: { host: '127.0.0.1', port: 143, user: ADDRESS, password: 'x' } }],
      },
      sendonly: {
        address: 'b@example.com',
        send: [{ smtp: { host: '127.0.0.1', port: 25, user: 'b', password: 'x' } }],
      },
    },
  };
  const cfg = (proxies: Record<string, unknown>) => parseConfig({ ...base, proxies }, {});

  it('accepts a loopback proxy and expands ${VAR} in the password', () => {
    const c = parseConfig(
      {
        ...base,
        proxies: {
          legacy: { protocol: 'smtp', listen: '127.0.0.1:2525', mailbox: 'agent', password: '${PROXY_PASSWORD}' },
        },
      },
      { PROXY_PASSWORD: 'from-the-environment' },
    );
    expect(c.proxies['legacy']).toMatchObject({ protocol: 'smtp', mailbox: 'agent', password: 'from-the-environment' });
  });

  it.each([
    [
      { protocol: 'smtp', listen: '127.0.0.1:2525', mailbox: 'nope', password: PW },
      /proxies\.p\.mailbox.*unknown mailbox "nope"/,
    ],
    [
      { protocol: 'smtp', listen: '0.0.0.0:2525', mailbox: 'agent', password: PW },
      /proxies\.p\.listen.*refusing plaintext logins on 0\.0\.0\.0/,
    ],
    [{ protocol: 'imap', listen: 'localhost', mailbox: 'agent', password: PW }, /proxies\.p\.listen.*host:port/],
    [{ protocol: 'imap', listen: '127.0.0.1:1143', mailbox: 'sendonly', password: PW }, /no imap read route/],
    [
      { protocol: 'smtp', listen: '127.0.0.1:2525', mailbox: 'agent', password: 'short' },
      /proxies\.p\.password.*12 characters/,
    ],
    [
      {
        protocol: 'imap',
        listen: '127.0.0.1:1143',
        mailbox: 'agent',
        password: PW,
        tls: { cert: 'c', key: 'k', mode: 'starttls' },
      },
      /proxies\.p\.tls\.mode.*only offered by smtp/,
    ],
  ])('refuses %j', (p, re) => {
    expect(() => cfg({ p })).toThrow(re);
  });

  it('refuses two proxies on one address', () => {
    const p = { protocol: 'smtp', listen: '127.0.0.1:2525', mailbox: 'agent', password: PW };
    expect(() => cfg({ a: p, b: p })).toThrow(/proxies\.b\.listen.*"a" already listens/);
  });
});

describe('IMAP command parser', () => {
  it('never throws; a finished command consumes at least one byte and no more than it was given', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        const buf = Buffer.from(bytes);
        const p = parseCommand(buf);
        if (p.kind !== 'incomplete') {
          expect(p.consumed).toBeGreaterThan(0);
          expect(p.consumed).toBeLessThanOrEqual(buf.length);
        }
      }),
      { numRuns: 2_000 },
    );
  });

  it('reads back any user name and password a client quotes or sends as a literal', () => {
    const quote = (v: string) => `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
    const literal = (v: string) => `{${Buffer.byteLength(v)}}\r\n${v}`;
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme', maxLength: 40 }).filter((v) => !/[\r\n]/.test(v)),
        fc.string({ unit: 'grapheme', maxLength: 40 }).filter((v) => !/[\r\n]/.test(v)),
        fc.boolean(),
        (user, pass, lit) => {
          const cmd = `a1 LOGIN ${lit ? literal(user) : quote(user)} ${lit ? literal(pass) : quote(pass)}\r\n`;
          const p = parseCommand(Buffer.from(cmd));
          expect(p).toEqual({ kind: 'done', consumed: Buffer.byteLength(cmd), tokens: ['a1', 'LOGIN', user, pass] });
        },
      ),
      { numRuns: 1_000 },
    );
  });
});

describe('AuthGate', () => {
  it('compares in constant time, and a configured user name must match too', () => {
    const g = new AuthGate({ password: PW, username: 'printer', clock: new FakeClock() });
    expect(g.matches('printer', PW)).toBe(true);
    expect(g.matches('printer', `${PW}x`)).toBe(false);
    expect(g.matches('scanner', PW)).toBe(false);
    expect(new AuthGate({ password: PW, clock: new FakeClock() }).matches('anyone', PW)).toBe(true);
  });

  it('over budget, answers wait one pause each, one at a time; the right password still gets in; the budget refills', async () => {
    const clock = new FakeClock();
    const g = new AuthGate({ password: PW, clock, burst: 2, refillMs: 10_000, penaltyMs: 1_000 });
    expect(await g.check('1.2.3.4', 'u', 'a')).toBe(false);
    expect(await g.check('1.2.3.4', 'u', 'b')).toBe(false);
    expect(g.throttled()).toEqual(['1.2.3.4']);
    // Another address is not affected.
    expect(await g.check('5.6.7.8', 'u', 'c')).toBe(false);
    const settled: string[] = [];
    const wrong = g.check('1.2.3.4', 'u', 'd').then((ok) => settled.push(`wrong:${ok}`));
    const right = g.check('1.2.3.4', 'u', PW).then((ok) => settled.push(`right:${ok}`));
    await new Promise((r) => setImmediate(r));
    expect(settled).toEqual([]);
    await clock.advance(1_000);
    await wrong;
    expect(settled).toEqual(['wrong:false']);
    await clock.advance(1_000);
    await right;
    expect(settled).toEqual(['wrong:false', 'right:true']);
    await clock.advance(20_000);
    expect(g.throttled()).toEqual([]);
    expect(await g.check('1.2.3.4', 'u', PW)).toBe(true);
  });
});

let ts: TestStore;
let smtp: SmtpPeer;
let gmail: GmailFake;
let graph: GraphFake;
let dovecot: DovecotPeer;
let mail: MailService;
let proxies: RunningProxies;
let tlsDir: string;
const tokens = new StubTokens().set('gmail', 'gmail-token').set('graph', 'graph-token');
const events = new RecordingEvents();
const flow: FlowRecord = {
  id: 'f1',
  connection: 'imapconn',
  kind: 'auth_code',
  status: 'open',
  state: 's',
  codeVerifier: null,
  deviceCode: null,
  nonce: null,
  userCode: null,
  url: 'https://example.org/authorize',
  redirectUri: null,
  interval: null,
  reason: 'revoked',
  askedVia: ['telegram', 'mail'],
  createdAt: Date.UTC(2026, 11, 1, 9, 30),
  expiresAt: Date.UTC(2026, 11, 2, 9, 30),
  remindedAt: null,
  completedAt: null,
  outcome: null,
};
tokens.revoke('imapconn');

const port = (name: string): number => proxies.list.find((p) => p.name === name)?.port as number;

beforeAll(async () => {
  ts = openTestStore();
  smtp = await startSmtpPeer({ passwords: { [ADDRESS]: APP_PASSWORD } });
  gmail = await startGmailFake({ verifyToken: async (t) => t === 'gmail-token' });
  graph = await startGraphFake({ verifyToken: async (t) => t === 'graph-token' });
  dovecot = await startDovecot({ passwords: { [ADDRESS]: APP_PASSWORD } });
  dovecot.seed(ADDRESS, { from: 'carol@example.org', to: ADDRESS, subject: 'held by dovecot', date: new Date() });
  tlsDir = mkdtempSync(join(tmpdir(), 'tw-proxy-tls-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-keyout',
      join(tlsDir, 'key.pem'),
      '-out',
      join(tlsDir, 'cert.pem'),
    ],
    { stdio: 'ignore' },
  );
  const imapApp = { host: dovecot.host, port: dovecot.port, secure: false, user: ADDRESS, password: APP_PASSWORD };
  const config = mailConfig(
    {
      viasmtp: {
        address: ADDRESS,
        send: [{ smtp: { host: smtp.host, port: smtp.port, secure: false, user: ADDRESS, password: APP_PASSWORD } }],
        read: [
          // A dead XOAUTH2 route first: the App Password route serves while the grant awaits its human.
          { imap: { host: dovecot.host, port: dovecot.port, secure: false, user: ADDRESS, connection: 'imapconn' } },
          { imap: imapApp },
        ],
        max_message_bytes: 20_000,
      },
      viagmail: { address: ADDRESS, send: [{ gmail: { connection: 'gmail', api_base: gmail.url } }] },
      viagraph: { address: ADDRESS, send: [{ graph: { connection: 'graph', api_base: graph.url } }] },
      deadread: {
        address: ADDRESS,
        read: [
          { imap: { host: dovecot.host, port: dovecot.port, secure: false, user: ADDRESS, connection: 'imapconn' } },
          { imap: { ...imapApp, password: 'wrong-app-password' } },
        ],
      },
    },
    {
      gmail: { provider: 'google', client_id: 'cid', client_secret: 's', scopes: [] },
      graph: { provider: 'microsoft', client_id: 'cid', client_secret: 's', scopes: [] },
      imapconn: { provider: 'google', client_id: 'cid', client_secret: 's', scopes: [] },
    },
  );
  mail = createMailService({
    config,
    store: ts.store,
    tokens,
    clock: systemClock,
    logger: silentLogger,
    events,
    owner: 'p',
  });
  const proxy = (protocol: string, mailbox: string, extra: Record<string, unknown> = {}) => ({
    protocol,
    listen: '127.0.0.1:0',
    mailbox,
    password: PW,
    ...extra,
  });
  const full = parseConfig(
    {
      ...config,
      connections: {
        gmail: { provider: 'google', client_id: 'cid', client_secret: 's' },
        graph: { provider: 'microsoft', client_id: 'cid', client_secret: 's' },
        imapconn: { provider: 'google', client_id: 'cid', client_secret: 's' },
      },
      proxies: {
        smtp: proxy('smtp', 'viasmtp'),
        gmail: proxy('smtp', 'viagmail'),
        graph: proxy('smtp', 'viagraph'),
        imap: proxy('imap', 'viasmtp'),
        dead: proxy('imap', 'deadread'),
        smtps: proxy('smtp', 'viasmtp', { tls: { cert: 'cert.pem', key: 'key.pem' } }),
        imaps: proxy('imap', 'viasmtp', { tls: { cert: 'cert.pem', key: 'key.pem' } }),
      },
    },
    {},
  );
  proxies = await startProxies({
    config: full,
    mail,
    tokens: {
      accessToken: (c) => tokens.accessToken(c),
      forceRefresh: async (c) => ({ accessToken: await tokens.accessToken(c) }),
    },
    openFlows: async (c) => (c === 'imapconn' ? [flow] : []),
    clock: systemClock,
    logger: silentLogger,
    baseDir: tlsDir,
    gate: { burst: 2, refillMs: 60_000, penaltyMs: 300 },
  });
});

afterAll(async () => {
  await proxies?.close();
  await mail?.stop();
  await Promise.allSettled([smtp?.stop(), gmail?.stop(), graph?.stop(), dovecot?.stop(), ts?.cleanup()]);
  rmSync(tlsDir, { recursive: true, force: true });
});

const transport = (p: number, extra: Record<string, unknown> = {}) =>
  createTransport({
    host: '127.0.0.1',
    port: p,
    secure: false,
    ignoreTLS: true,
    auth: { user: ADDRESS, pass: PW },
    ...extra,
  });

describe('SMTP proxy', () => {
  it('a message without Message-ID or Date gets both; a Bcc-only recipient reaches Gmail as a Bcc header', async () => {
    const raw = `From: ${ADDRESS}\r\nTo: bob@example.org\r\nSubject: scan 0001\r\n\r\nscanned page\r\n`;
    const info = (await transport(port('gmail')).sendMail({
      envelope: { from: ADDRESS, to: ['bob@example.org', 'hidden@example.org'] },
      raw,
    })) as { response: string };
    expect(info.response).toMatch(/^250 2\.0\.0 Queued as [0-9a-f-]{36}$/);
    const id = /Queued as (\S+)/.exec(info.response)?.[1] as string;
    const deadline = Date.now() + 10_000;
    while (gmail.sent.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const got = gmail.sent.at(-1)?.raw.toString() as string;
    expect(got).toMatch(/^Message-ID: <[0-9a-f-]{36}@example\.com>\r\n/m);
    expect(got).toMatch(/^Date: .+ \+0000\r\n/m);
    expect(got).toMatch(/^Bcc: hidden@example\.org\r\n/m);
    expect(got.endsWith(raw)).toBe(true);
    await expect.poll(async () => (await ts.store.getMessage(id))?.status).toBe('sent');
  });

  it('Graph (MIME sendMail): a message that names no recipient in its headers reaches them through a Bcc header', async () => {
    const raw = `From: ${ADDRESS}\r\nSubject: cron output\r\n\r\nok\r\n`;
    await transport(port('graph')).sendMail({ envelope: { from: ADDRESS, to: ['ops@example.org'] }, raw });
    await expect.poll(() => graph.sent.length, { timeout: 10_000 }).toBe(1);
    expect(graph.sent[0]?.headers.get('bcc')).toBe('ops@example.org');
    expect(graph.sent[0]?.headers.get('subject')).toBe('cron output');
  });

  it('the same message sent twice (a client retrying after a lost reply) is queued and delivered once', async () => {
    const before = smtp.received.length;
    const raw = `From: ${ADDRESS}\r\nTo: bob@example.org\r\nSubject: retry\r\nMessage-ID: <retry-1@example.com>\r\n\r\nonce\r\n`;
    const a = (await transport(port('smtp')).sendMail({
      envelope: { from: ADDRESS, to: ['bob@example.org'] },
      raw,
    })) as { response: string };
    await smtp.waitForCount(before + 1);
    const b = (await transport(port('smtp')).sendMail({
      envelope: { from: ADDRESS, to: ['bob@example.org'] },
      raw,
    })) as { response: string };
    expect(b.response).toBe(a.response);
    expect(smtp.countByMessageId('<retry-1@example.com>')).toBe(1);
  });

  it(`refuses more than ${MAX_RECIPIENTS} recipients (452) and a message over max_message_bytes (552)`, async () => {
    const many = Array.from({ length: MAX_RECIPIENTS + 1 }, (_, i) => `r${i}@example.org`);
    const err1 = await transport(port('smtp'))
      .sendMail({ envelope: { from: ADDRESS, to: many }, raw: `Subject: x\r\n\r\ny\r\n` })
      .catch((e: unknown) => e as { responseCode?: number; rejected?: string[] });
    // nodemailer reports the refused recipient; the first 500 were accepted, the message was not sent.
    expect((err1 as { rejectedErrors?: { responseCode: number }[] }).rejectedErrors?.[0]?.responseCode).toBe(452);
    const big = `From: ${ADDRESS}\r\nSubject: big\r\n\r\n${'x'.repeat(25_000)}\r\n`;
    const err2 = await transport(port('smtp'))
      .sendMail({ envelope: { from: ADDRESS, to: ['bob@example.org'] }, raw: big })
      .catch((e: unknown) => e as { responseCode?: number });
    expect((err2 as { responseCode?: number }).responseCode).toBe(552);
  });

  it('wrong passwords: the first ones answer at once, then each waits; the right one still gets in', async () => {
    const bad = (): Promise<number> => {
      const t0 = Date.now();
      return transport(port('smtp'), { auth: { user: ADDRESS, pass: 'wrong-password!' } })
        .verify()
        .then(
          () => -1,
          () => Date.now() - t0,
        );
    };
    const quick = [await bad(), await bad()];
    expect(quick.every((ms) => ms >= 0)).toBe(true);
    const slowed = await bad();
    expect(slowed).toBeGreaterThanOrEqual(300);
    const t0 = Date.now();
    await expect(transport(port('smtp')).verify()).resolves.toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
  });

  it('beyond loopback with STARTTLS: AUTH is refused until the client has switched to TLS', async () => {
    // Bound to 127.0.0.1 (tests stay local) but run with the rules of a network address.
    const p = await startSmtpProxy({
      name: 'lan',
      host: '127.0.0.1',
      port: 0,
      mailbox: mail.mailbox('viasmtp'),
      maxBytes: 20_000,
      gate: new AuthGate({ password: PW, clock: systemClock }),
      loopback: false,
      tls: {
        mode: 'starttls',
        cert: readFileSync(join(tlsDir, 'cert.pem')),
        key: readFileSync(join(tlsDir, 'key.pem')),
      },
      logger: silentLogger,
    });
    try {
      const plain = await transport(p.port)
        .verify()
        .catch((e: unknown) => e as { responseCode?: number });
      expect((plain as { responseCode?: number }).responseCode).toBe(538);
      const before = smtp.received.length;
      await transport(p.port, { ignoreTLS: false, requireTLS: true, tls: { rejectUnauthorized: false } }).sendMail({
        from: ADDRESS,
        to: 'bob@example.org',
        subject: 'after starttls',
        text: 'hi',
      });
      await smtp.waitForCount(before + 1);
      expect(smtp.received.at(-1)?.raw.toString()).toContain('Subject: after starttls');
    } finally {
      await p.close();
    }
  });

  it('implicit TLS on the local side', async () => {
    const before = smtp.received.length;
    await transport(port('smtps'), { secure: true, ignoreTLS: false, tls: { rejectUnauthorized: false } }).sendMail({
      from: ADDRESS,
      to: 'bob@example.org',
      subject: 'over tls',
      text: 'hi',
    });
    await smtp.waitForCount(before + 1);
    expect(smtp.received.at(-1)?.raw.toString()).toContain('Subject: over tls');
  });
});

/** A line-oriented IMAP conversation over a raw socket. */
async function imapSession(p: number, secure = false) {
  const sock: Socket = await new Promise((resolve, reject) => {
    const s = secure
      ? tlsConnect({ host: '127.0.0.1', port: p, rejectUnauthorized: false }, () => resolve(s))
      : netConnect(p, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
  let buf = '';
  let wake: (() => void) | null = null;
  sock.on('data', (d: Buffer) => {
    buf += d.toString('utf8');
    wake?.();
  });
  const until = async (re: RegExp): Promise<string> => {
    for (;;) {
      const m = re.exec(buf);
      if (m) {
        const upto = buf.slice(0, m.index + m[0].length);
        buf = buf.slice(m.index + m[0].length);
        return upto;
      }
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 50);
      });
    }
  };
  return {
    send: (s: string) => sock.write(s),
    until,
    close: () => sock.destroy(),
  };
}

describe('IMAP proxy', () => {
  it('greets with its capabilities, refuses commands before login, LOGIN with literals, then relays to Dovecot', async () => {
    const s = await imapSession(port('imap'));
    expect(await s.until(/\r\n/)).toMatch(/^\* OK \[CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN ID\] /);
    s.send('a1 SELECT INBOX\r\n');
    expect(await s.until(/a1 .*\r\n/)).toMatch(/a1 BAD SELECT is not available before login/);
    s.send(`a2 LOGIN {${ADDRESS.length}}\r\n`);
    expect(await s.until(/\r\n/)).toBe('+ Ready for literal data\r\n');
    s.send(`${ADDRESS} {${PW.length}}\r\n`);
    await s.until(/\+ Ready for literal data\r\n/);
    s.send(`${PW}\r\n`);
    // The dead XOAUTH2 route is skipped; the App Password route logs in; Dovecot answers from here on.
    expect(await s.until(/a2 .*\r\n/)).toMatch(/a2 OK .*Logged in/);
    s.send('a3 SELECT INBOX\r\n');
    const sel = await s.until(/a3 .*\r\n/);
    expect(sel).toMatch(/\* 1 EXISTS/);
    expect(sel).toMatch(/a3 OK \[READ-WRITE\]/);
    s.send('a4 FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\n');
    expect(await s.until(/a4 .*\r\n/)).toContain('Subject: held by dovecot');
    s.send('a5 LOGOUT\r\n');
    expect(await s.until(/a5 .*\r\n/)).toMatch(/\* BYE/);
    s.close();
  });

  it('AUTHENTICATE PLAIN with a continuation and with SASL-IR; a wrong password is AUTHENTICATIONFAILED', async () => {
    const b64 = (u: string, p: string) => Buffer.from(`\0${u}\0${p}`).toString('base64');
    const s = await imapSession(port('imap'));
    await s.until(/\r\n/);
    s.send('b1 AUTHENTICATE PLAIN\r\n');
    expect(await s.until(/\r\n/)).toBe('+ \r\n');
    s.send(`${b64(ADDRESS, 'nope-nope-nope')}\r\n`);
    expect(await s.until(/b1 .*\r\n/)).toMatch(/b1 NO \[AUTHENTICATIONFAILED\]/);
    s.send(`b2 AUTHENTICATE PLAIN ${b64(ADDRESS, PW)}\r\n`);
    expect(await s.until(/b2 .*\r\n/)).toMatch(/b2 OK/);
    s.send('b3 STATUS INBOX (MESSAGES)\r\n');
    expect(await s.until(/b3 .*\r\n/)).toMatch(/\* STATUS INBOX \(MESSAGES 1\)\r\nb3 OK/);
    s.close();
  });

  it('no route can log in: NO [UNAVAILABLE] says who was asked since when, and what the App Password route said', async () => {
    const s = await imapSession(port('dead'));
    await s.until(/\r\n/);
    s.send(`c1 LOGIN "${ADDRESS}" "${PW}"\r\n`);
    const line = await s.until(/c1 .*\r\n/);
    expect(line).toMatch(/^c1 NO \[UNAVAILABLE\] mailbox "deadread" cannot log in upstream: /);
    expect(line).toContain(
      `imap:127.0.0.1: connection "imapconn" awaits re-authorization by a human (asked via telegram, mail since ${new Date(flow.createdAt).toISOString()}; The grant was revoked.)`,
    );
    expect(line).toMatch(/imap:127\.0\.0\.1#2: App Password refused: .*AUTHENTICATIONFAILED/);
    expect(line).not.toContain('wrong-app-password');
    // The session stays usable: the client may try again later.
    s.send('c2 NOOP\r\n');
    expect(await s.until(/c2 .*\r\n/)).toBe('c2 OK NOOP completed\r\n');
    s.close();
  });

  it('closes a connection after 3 failed logins, and one that sends an over-long command', async () => {
    const s = await imapSession(port('imap'));
    await s.until(/\r\n/);
    s.send('e1 LOGIN a wrong-1\r\ne2 LOGIN a wrong-2\r\ne3 LOGIN a wrong-3\r\ne4 NOOP\r\n');
    const out = await s.until(/\* BYE .*\r\n/);
    expect(out.match(/AUTHENTICATIONFAILED/g)).toHaveLength(3);
    expect(out).toMatch(/\* BYE Too many failed logins\r\n$/);
    s.close();
    const t = await imapSession(port('imap'));
    await t.until(/\r\n/);
    t.send(`f1 LOGIN ${'x'.repeat(20_000)}`);
    expect(await t.until(/\* BYE .*\r\n/)).toBe('* BYE Command too long\r\n');
    t.close();
  });

  it('implicit TLS on the local side', async () => {
    const s = await imapSession(port('imaps'), true);
    await s.until(/\r\n/);
    s.send(`d1 LOGIN "${ADDRESS}" "${PW}"\r\nd2 SELECT INBOX\r\n`);
    expect(await s.until(/d2 .*\r\n/)).toMatch(/d1 OK[\s\S]*\* 1 EXISTS[\s\S]*d2 OK/);
    s.close();
  });
});
