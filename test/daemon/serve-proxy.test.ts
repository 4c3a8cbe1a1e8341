/**
 * The local mail proxy, end to end with clients nobody here wrote: Python's smtplib and
 * imaplib, curl and msmtp log in with the proxy password only; `tokenwarden serve` runs as a
 * child process; upstream are a real SMTP server (smtp-server) and Dovecot, both accepting
 * only XOAUTH2 tokens that a real oidc-provider vouches for (RFC 7662 introspection).
 *
 * Covered: send (three clients), read (LOGIN, SELECT, FETCH of a message Dovecot holds),
 * wrong proxy password and foreign sender refused, a revoked grant (mail accepted with 250,
 * IMAP answers who was asked since when, the message is delivered once after the human's
 * paste), and kill -9 of the daemon with accepted messages (delivered after restart).
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openWarden, partsOf } from '../../src/warden.js';
import { makeWorkspace, type Workspace } from '../helpers/workspace.js';
import { startDovecot, type DovecotPeer } from '../peers/dovecot.js';
import { startOidcProvider, type OidcPeer } from '../peers/oidc-provider.js';
import { startSmtpPeer, type SmtpPeer } from '../peers/smtp.js';
import { freePort, spawnServe, type ServeChild } from './helpers.js';

const ADDRESS = 'agent@example.com';
/** Dovecot's oauth2 passdb maps the token's `sub` (the oidc account) to the IMAP user. */
const UPSTREAM_USER = 'alice';
const PROXY_PASSWORD = 'local-proxy-secret-7f3a';

let oidc: OidcPeer;
let smtp: SmtpPeer;
let dovecot: DovecotPeer;
let ws: Workspace;
let serve: ServeChild | null = null;
let smtpPort: number;
let imapPort: number;
let seededId: string;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], opts: { input?: string; env?: Record<string, string> } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(opts.input ?? '');
  });
}

/** Python's smtplib: LOGIN with the proxy password, send one message; exit 0 on 250, 3 on an SMTP refusal. */
const SMTPLIB = `
import os, smtplib, sys
from email.message import EmailMessage
m = EmailMessage()
m['From'] = os.environ['FROM']
m['To'] = os.environ['TO']
m['Subject'] = os.environ['SUBJECT']
m['Message-ID'] = os.environ['MID']
m.set_content('Scanned document attached (pretend).')
try:
    with smtplib.SMTP('127.0.0.1', int(os.environ['PORT']), timeout=60) as s:
        s.login(os.environ['USER_NAME'], os.environ['PASSWORD'])
        refused = s.send_message(m)
        print('sent', refused)
except smtplib.SMTPResponseException as e:
    print('refused', e.smtp_code, e.smtp_error.decode(), file=sys.stderr)
    sys.exit(3)
except smtplib.SMTPRecipientsRefused as e:
    print('refused', e.recipients, file=sys.stderr)
    sys.exit(3)
`;

/** Python's imaplib: LOGIN, SELECT INBOX, FETCH 1 (RFC822); exit 3 with the server's answer when LOGIN fails. */
const IMAPLIB = `
import imaplib, os, sys
M = imaplib.IMAP4('127.0.0.1', int(os.environ['PORT']), timeout=60)
try:
    M.login(os.environ['USER_NAME'], os.environ['PASSWORD'])
except imaplib.IMAP4.error as e:
    print('login refused:', e, file=sys.stderr)
    sys.exit(3)
typ, data = M.select('INBOX')
print('select', typ, data[0].decode())
typ, data = M.fetch('1', '(RFC822)')
print('fetch', typ)
sys.stdout.write(data[0][1].decode())
M.logout()
`;

function smtplib(opts: { mid: string; subject: string; password?: string; from?: string; to?: string }): Promise<Run> {
  return run('python3', ['-c', SMTPLIB], {
    env: {
      PORT: String(smtpPort),
      USER_NAME: ADDRESS,
      PASSWORD: opts.password ?? PROXY_PASSWORD,
      FROM: opts.from ?? ADDRESS,
      TO: opts.to ?? 'bob@example.org',
      SUBJECT: opts.subject,
      MID: opts.mid,
    },
  });
}

function imaplib(password = PROXY_PASSWORD): Promise<Run> {
  return run('python3', ['-c', IMAPLIB], { env: { PORT: String(imapPort), USER_NAME: ADDRESS, PASSWORD: password } });
}

let midSeq = 0;
const newMid = (): string => `<proxy-test-${Date.now()}-${++midSeq}@example.com>`;

/** Wait until the SMTP peer holds a copy with this Message-ID (it records every message). */
async function delivered(mid: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (smtp.countByMessageId(mid) === 0) {
    if (Date.now() > deadline) throw new Error(`${mid} not delivered within ${timeoutMs} ms\n${serve?.stderr() ?? ''}`);
    await smtp.waitForCount(smtp.received.length + 1, Math.max(1, deadline - Date.now())).catch(() => undefined);
  }
}

/** Poll the shared store (another process's view, as the CLI would see it). */
async function until<T>(what: string, fn: () => Promise<T | null | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${serve?.stderr() ?? ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function withWarden<T>(fn: (w: Awaited<ReturnType<typeof openWarden>>) => Promise<T>): Promise<T> {
  const w = await openWarden({ configPath: ws.configPath });
  try {
    return await fn(w);
  } finally {
    await w.close();
  }
}

beforeAll(async () => {
  const redirectUri = `http://127.0.0.1:${await freePort()}/oauth/callback`;
  oidc = await startOidcProvider({ redirectUris: [redirectUri], accessTokenTtl: 600, refreshTokenTtl: 3600 });
  const introspection = new URL(oidc.introspectionUrl);
  introspection.username = encodeURIComponent(oidc.clientId);
  introspection.password = encodeURIComponent(oidc.clientSecret);
  const active = async (token: string): Promise<boolean> => (await oidc.introspect(token)).active === true;
  // Upstream knows no password at all: only tokens the provider vouches for get in.
  smtp = await startSmtpPeer({ verifyToken: active });
  dovecot = await startDovecot({ introspectionUrl: introspection.href });
  seededId = dovecot.seed(UPSTREAM_USER, {
    from: 'carol@example.org',
    to: ADDRESS,
    subject: 'Invoice 2291',
    date: new Date(Date.now() - 3_600_000),
    body: 'Please find the invoice for December.',
  });
  smtpPort = await freePort();
  imapPort = await freePort();
  ws = makeWorkspace({
    server: { listen: '127.0.0.1:0' },
    channels: { console: { type: 'console' } },
    connections: {
      mail: {
        provider: 'oidc',
        issuer: oidc.issuer,
        client_id: oidc.clientId,
        client_secret: oidc.clientSecret,
        redirect_uri: redirectUri,
        scopes: ['openid', 'offline_access'],
        flow: 'auth_code',
        notify: ['console'],
      },
    },
    mailboxes: {
      agent: {
        address: ADDRESS,
        send: [{ smtp: { host: smtp.host, port: smtp.port, secure: false, user: UPSTREAM_USER, connection: 'mail' } }],
        read: [
          { imap: { host: dovecot.host, port: dovecot.port, secure: false, user: UPSTREAM_USER, connection: 'mail' } },
        ],
      },
    },
    proxies: {
      legacy: { protocol: 'smtp', listen: `127.0.0.1:${smtpPort}`, mailbox: 'agent', password: PROXY_PASSWORD },
      reader: { protocol: 'imap', listen: `127.0.0.1:${imapPort}`, mailbox: 'agent', password: PROXY_PASSWORD },
    },
  });
  // The human authorizes once, by paste, before the daemon starts.
  const started = await ws.cli(['connect', 'mail', '--no-wait', '--json']);
  expect(started.code).toBe(0);
  const ev = JSON.parse(started.stdout.split('\n')[0] ?? '') as { url: string };
  const done = await ws.cli(['complete', await oidc.approveAuthorization(ev.url), '--json']);
  expect(done.code).toBe(0);
  serve = await spawnServe(ws);
  const line = `Mail proxy legacy (smtp) on 127.0.0.1:${smtpPort}`;
  await until('the proxy line on stdout', async () => serve?.stdout().includes(line));
});

afterAll(async () => {
  await serve?.stop();
  await Promise.allSettled([smtp?.stop(), dovecot?.stop(), oidc?.stop()]);
  ws?.cleanup();
});

describe('local SMTP proxy: password-only clients send through the outbox with XOAUTH2 upstream', () => {
  it('Python smtplib: AUTH with the proxy password, the message arrives upstream unchanged', async () => {
    const mid = newMid();
    const r = await smtplib({ mid, subject: 'Scan from printer' });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    await delivered(mid, 30_000);
    const got = smtp.received.find((m) => m.messageId === mid);
    expect(got?.envelope).toEqual({ from: ADDRESS, to: ['bob@example.org'] });
    // Upstream authenticated the daemon with the connection's token (the peer knows no password).
    expect(got?.user).toBe(UPSTREAM_USER);
    expect(got?.raw.toString()).toContain('Subject: Scan from printer');
    expect(got?.raw.toString()).toContain('Scanned document attached (pretend).');
  });

  it('curl smtp:// with --user', async () => {
    const mid = newMid();
    const file = join(ws.dir, 'curl.eml');
    writeFileSync(
      file,
      `From: ${ADDRESS}\r\nTo: carol@example.org\r\nSubject: nightly backup report\r\nMessage-ID: ${mid}\r\n\r\nbackup ok\r\n`,
    );
    const r = await run('curl', [
      '--silent',
      '--show-error',
      '--url',
      `smtp://127.0.0.1:${smtpPort}`,
      '--mail-from',
      ADDRESS,
      '--mail-rcpt',
      'carol@example.org',
      '--user',
      `${ADDRESS}:${PROXY_PASSWORD}`,
      '--upload-file',
      file,
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    await delivered(mid, 30_000);
    expect(smtp.received.find((m) => m.messageId === mid)?.envelope.to).toEqual(['carol@example.org']);
  });

  it('msmtp with the password in its config file (no passwordeval), Bcc-only recipient included', async () => {
    const mid = newMid();
    const conf = join(ws.dir, 'msmtprc');
    writeFileSync(
      conf,
      [
        'account default',
        'host 127.0.0.1',
        `port ${smtpPort}`,
        'tls off',
        'auth plain',
        `user ${ADDRESS}`,
        `password ${PROXY_PASSWORD}`,
        `from ${ADDRESS}`,
        '',
      ].join('\n'),
    );
    chmodSync(conf, 0o600);
    const r = await run('msmtp', ['-C', conf, '-t'], {
      input: `To: dave@example.org\nBcc: erin@example.org\nSubject: cron: disk usage\nMessage-ID: ${mid}\n\n/ 71% used\n`,
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    await delivered(mid, 30_000);
    const got = smtp.received.find((m) => m.messageId === mid);
    expect(got?.envelope.to.sort()).toEqual(['dave@example.org', 'erin@example.org']);
    // The SMTP route delivers Bcc by envelope and never shows it to the recipients.
    expect(got?.raw.toString()).not.toMatch(/^Bcc:/im);
  });

  it('refuses a wrong proxy password (535) and a sender other than the mailbox (553); nothing is queued', async () => {
    const before = await withWarden(async (w) => (await partsOf(w).store.listMessages({ mailbox: 'agent' })).length);
    const wrong = await smtplib({ mid: newMid(), subject: 'x', password: 'not-the-password' });
    expect(wrong.code).toBe(3);
    expect(wrong.stderr).toMatch(/refused 535/);
    const foreign = await smtplib({ mid: newMid(), subject: 'x', from: 'ceo@example.com' });
    expect(foreign.code).toBe(3);
    expect(foreign.stderr).toMatch(/refused 553 .*agent@example\.com/);
    const after = await withWarden(async (w) => (await partsOf(w).store.listMessages({ mailbox: 'agent' })).length);
    expect(after).toBe(before);
  });
});

describe('local IMAP proxy: imaplib logs in with the proxy password, the session is relayed to Dovecot', () => {
  it('LOGIN, SELECT, FETCH a message Dovecot holds', async () => {
    const r = await imaplib();
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^select OK 1$/m);
    expect(r.stdout).toContain(`Message-ID: ${seededId}`);
    expect(r.stdout).toContain('Subject: Invoice 2291');
    expect(r.stdout).toContain('Please find the invoice for December.');
  });

  it('refuses a wrong proxy password with AUTHENTICATIONFAILED', async () => {
    const r = await imaplib('guess-1234567');
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/AUTHENTICATIONFAILED/);
  });
});

describe('a revoked grant: nothing bounces, nothing is lost', () => {
  it('IMAP says who was asked since when; SMTP still answers 250; the message goes out once after the paste', async () => {
    await oidc.revokeGrantsFor();
    // IMAP login: Dovecot refuses the revoked token, the daemon's refresh finds the grant dead and asks the human.
    const first = await imaplib();
    expect(first.code).toBe(3);
    expect(first.stderr).toMatch(/UNAVAILABLE/);
    const flow = await until('an open flow that asked via console', () =>
      withWarden(async (w) => {
        const f = (await w.status()).find((c) => c.name === 'mail')?.openFlow;
        return f && f.askedVia.includes('console') ? f : null;
      }),
    );
    const again = await imaplib();
    expect(again.code).toBe(3);
    expect(again.stderr).toContain('[UNAVAILABLE]');
    expect(again.stderr).toContain('connection "mail" awaits re-authorization');
    expect(again.stderr).toContain(`asked via console since ${new Date(flow.createdAt).toISOString()}`);

    // The printer sends meanwhile: 250, stored, not yet delivered.
    const mid = newMid();
    const r = await smtplib({ mid, subject: 'sent while the grant is dead' });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const row = await withWarden(async (w) =>
      (await partsOf(w).store.listMessages({ mailbox: 'agent' })).find((m) => m.messageId === mid),
    );
    expect(row?.status).toMatch(/pending|sending/);
    expect(smtp.countByMessageId(mid)).toBe(0);

    // The human approves and pastes the final URL.
    const done = await ws.cli(['complete', await oidc.approveAuthorization(flow.url), '--json']);
    expect(done.code).toBe(0);
    await delivered(mid, 90_000);
    expect(smtp.countByMessageId(mid)).toBe(1);
    // And reading works again with the new token.
    const read = await imaplib();
    expect(read.code).toBe(0);
    expect(read.stdout).toContain('Subject: Invoice 2291');
  }, 150_000);
});

describe('a revoked grant found by the SMTP route alone', () => {
  it('the upstream refusal makes the daemon re-check the grant and ask the human; delivered once after the paste', async () => {
    await oidc.revokeGrantsFor();
    // Sessions the daemon's SMTP client already authenticated stay usable (as at real providers):
    // restart the server so the next delivery has to log in with the revoked token.
    await smtp.setDown(true);
    await smtp.setDown(false);
    const mid = newMid();
    const r = await smtplib({ mid, subject: 'only smtp noticed' });
    expect(r.code).toBe(0);
    // Found dead at once (the access token would have looked valid for another ten minutes).
    const flow = await until('an open flow that asked via console', () =>
      withWarden(async (w) => {
        const f = (await w.status()).find((c) => c.name === 'mail')?.openFlow;
        return f && f.askedVia.includes('console') ? f : null;
      }),
    );
    expect(smtp.countByMessageId(mid)).toBe(0);
    const done = await ws.cli(['complete', await oidc.approveAuthorization(flow.url), '--json']);
    expect(done.code).toBe(0);
    await delivered(mid, 60_000);
    expect(smtp.countByMessageId(mid)).toBe(1);
  }, 120_000);
});

describe('secrets', () => {
  it('the proxy password never reaches the logs, events or store; accepted messages are stored sealed', async () => {
    const logs = `${serve?.stdout() ?? ''}${serve?.stderr() ?? ''}`;
    expect(logs).toContain('mail proxy login refused');
    expect(logs).not.toContain(PROXY_PASSWORD);
    const events = await withWarden(async (w) => JSON.stringify(await partsOf(w).store.listEvents({ limit: 1000 })));
    expect(events).not.toContain(PROXY_PASSWORD);
    for (const f of [ws.dbPath, `${ws.dbPath}-wal`].filter(existsSync)) {
      const bytes = readFileSync(f);
      expect(bytes.includes(PROXY_PASSWORD)).toBe(false);
      // The message bodies the clients sent are in the outbox, sealed.
      expect(bytes.includes('Scanned document attached')).toBe(false);
      expect(bytes.includes('/ 71% used')).toBe(false);
    }
  });
});

describe('kill -9 of the daemon with accepted messages', () => {
  it('every message accepted with 250 is delivered after the restart', async () => {
    await smtp.setDown(true);
    const mids = [newMid(), newMid(), newMid()];
    for (const [i, mid] of mids.entries()) {
      const r = await smtplib({ mid, subject: `accepted before the crash ${i}` });
      expect(r.code).toBe(0);
    }
    // Accepted means stored: the rows are in the store, waiting for a retry (upstream is down).
    await until('all three rows back to pending', () =>
      withWarden(async (w) => {
        const rows = (await partsOf(w).store.listMessages({ mailbox: 'agent' })).filter((m) =>
          mids.includes(m.messageId),
        );
        return rows.length === 3 && rows.every((m) => m.status === 'pending');
      }),
    );
    expect(await serve?.stop('SIGKILL')).toBe(null);
    await smtp.setDown(false);
    serve = await spawnServe(ws);
    for (const mid of mids) await delivered(mid, 60_000);
    for (const mid of mids) expect(smtp.countByMessageId(mid)).toBe(1);
  }, 120_000);
});
