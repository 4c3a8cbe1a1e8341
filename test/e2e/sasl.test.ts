/**
 * `tokenwarden token --format xoauth2|oauthbearer` with the built CLI: the base64 SASL initial
 * responses decode to exactly the XOAUTH2 and RFC 7628 OAUTHBEARER layouts, and the XOAUTH2
 * string logs in to a real SMTP server (smtp-server) that introspects the bearer at the
 * oidc-provider peer, sent verbatim as `AUTH XOAUTH2 <string>` over a socket; Dovecot (IMAP,
 * oauth2 passdb introspecting at the same peer) accepts both strings as `AUTHENTICATE`.
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliOnPath, startAuthorized, type Authorized } from '../helpers/authorized.js';
import { startDovecot, type DovecotPeer } from '../peers/dovecot.js';
import type { OidcPeer } from '../peers/oidc-provider.js';
import { startSmtpPeer, type SmtpPeer } from '../peers/smtp.js';

let a: Authorized;
let smtp: SmtpPeer;
let dovecot: DovecotPeer;
let token: string;

const decode = (s: string): string => Buffer.from(s.trim(), 'base64').toString('utf8');

beforeAll(async () => {
  a = await startAuthorized({}, { plain: { provider: 'oauth2', kind: 'static', secret: 'plain-secret' } });
  await a.authorize();
  smtp = await startSmtpPeer({
    verifyToken: async (t, user) => user === 'agent@example.com' && (await a.peer.introspect(t)).active === true,
  });
  dovecot = await startDovecot({ introspectionUrl: introspectionUrlWithClient(a.peer), oauthbearer: true });
  token = (await a.ws.cli(['token', 'sandbox'])).stdout.trim();
  expect((await a.peer.introspect(token)).active).toBe(true);
});

afterAll(async () => {
  await smtp?.stop();
  await dovecot?.stop();
  await a?.stop();
});

const introspectionUrlWithClient = (p: OidcPeer): string => {
  const u = new URL(p.introspectionUrl);
  u.username = encodeURIComponent(p.clientId);
  u.password = encodeURIComponent(p.clientSecret);
  return u.href;
};

/** `AUTHENTICATE <mech> <initial response>` at Dovecot (SASL-IR); the tagged answer. */
async function imapAuthenticate(mech: string, ir: string): Promise<string> {
  const sock: Socket = connect(dovecot.port, dovecot.host);
  let buf = '';
  let waiter: (() => void) | undefined;
  sock.on('data', (d: Buffer) => {
    buf += d.toString();
    waiter?.();
  });
  const line = async (re: RegExp): Promise<string> => {
    for (;;) {
      const m = re.exec(buf);
      if (m) {
        buf = buf.slice(m.index + m[0].length);
        return m[0];
      }
      await new Promise<void>((r) => (waiter = r));
    }
  };
  try {
    await line(/^\* OK[^\r\n]*\r\n/m);
    sock.write(`a1 AUTHENTICATE ${mech} ${ir}\r\n`);
    const first = await line(/^(\+|a1 )[^\r\n]*\r\n/m);
    if (!first.startsWith('+')) return first.trim();
    // A failure challenge (RFC 7628 §3.2.3): answer with the dummy ^A (XOAUTH2: an empty line).
    sock.write(mech === 'OAUTHBEARER' ? 'AQ==\r\n' : '\r\n');
    return (await line(/^a1 [^\r\n]*\r\n/m)).trim();
  } finally {
    sock.destroy();
  }
}

/** A line-at-a-time SMTP conversation over a plain socket. */
async function smtpSession(): Promise<{ send(line: string): Promise<string>; close(): void }> {
  const sock: Socket = connect(smtp.port, smtp.host);
  let buf = '';
  let waiter: (() => void) | undefined;
  sock.on('data', (d: Buffer) => {
    buf += d.toString();
    waiter?.();
  });
  /** One complete reply (multi-line replies end with "NNN " on their last line). */
  const reply = async (): Promise<string> => {
    for (;;) {
      const m = /(^|\r\n)(\d{3}) [^\r\n]*\r\n/.exec(buf);
      if (m) {
        const end = m.index + m[0].length;
        const r = buf.slice(0, end);
        buf = buf.slice(end);
        return r;
      }
      await new Promise<void>((r) => (waiter = r));
    }
  };
  await reply();
  return {
    async send(line) {
      sock.write(`${line}\r\n`);
      return reply();
    },
    close: () => sock.destroy(),
  };
}

describe('token --format', () => {
  it('xoauth2 decodes to user=…^Aauth=Bearer <token>^A^A and logs in to SMTP', async () => {
    const r = await a.ws.cli(['token', 'sandbox', '--format', 'xoauth2', '--user', 'agent@example.com']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(decode(r.stdout)).toBe(`user=agent@example.com\x01auth=Bearer ${token}\x01\x01`);
    const s = await smtpSession();
    try {
      expect(await s.send('EHLO client.example')).toMatch(/AUTH .*XOAUTH2/);
      expect(await s.send(`AUTH XOAUTH2 ${r.stdout.trim()}`)).toMatch(/^235 /);
    } finally {
      s.close();
    }
  });

  it('a string for another user or a stale token is refused by the SMTP server', async () => {
    const other = await a.ws.cli(['token', 'sandbox', '--format', 'xoauth2', '--user', 'mallory@example.com']);
    const forged = Buffer.from(`user=agent@example.com\x01auth=Bearer ${token}x\x01\x01`).toString('base64');
    for (const ir of [other.stdout.trim(), forged]) {
      const s = await smtpSession();
      try {
        await s.send('EHLO client.example');
        const first = await s.send(`AUTH XOAUTH2 ${ir}`);
        // XOAUTH2 failure: a 334 error challenge, answered with an empty line, then 5xx.
        const final = first.startsWith('334') ? await s.send('') : first;
        expect(final).toMatch(/^5\d\d /);
      } finally {
        s.close();
      }
    }
  });

  it("xoauth2 without --user uses the connection's account", async () => {
    const status = JSON.parse((await a.ws.cli(['status', '--json'])).stdout) as {
      connections: Array<{ name: string; account: string | null }>;
    };
    const account = status.connections.find((c) => c.name === 'sandbox')?.account;
    expect(account).toBeTruthy();
    const r = await a.ws.cli(['token', 'sandbox', '--format', 'xoauth2']);
    expect(r.code).toBe(0);
    expect(decode(r.stdout)).toBe(`user=${account ?? ''}\x01auth=Bearer ${token}\x01\x01`);
  });

  it('oauthbearer follows RFC 7628 §3.1: gs2 header with escaped authzid, host, port, auth', async () => {
    const r = await a.ws.cli([
      'token',
      'sandbox',
      '--format',
      'oauthbearer',
      '--user',
      'a,b=c@example.com',
      '--host',
      'imap.example.com',
      '--port',
      '993',
    ]);
    expect(r.code).toBe(0);
    expect(decode(r.stdout)).toBe(
      `n,a=a=2Cb=3Dc@example.com,\x01host=imap.example.com\x01port=993\x01auth=Bearer ${token}\x01\x01`,
    );
    const bare = await a.ws.cli(['token', 'plain', '--format', 'oauthbearer']);
    expect(bare.code).toBe(0);
    expect(decode(bare.stdout)).toBe('n,,\x01auth=Bearer plain-secret\x01\x01');
    const raw = await a.ws.cli(['token', 'sandbox', '--format', 'raw']);
    expect(raw.stdout).toBe(`${token}\n`);
  });

  it('Dovecot IMAP accepts the oauthbearer and xoauth2 strings for the token owner, and refuses another login', async () => {
    // Dovecot maps the token to its owner through introspection (sub = alice).
    const ob = await a.ws.cli([
      'token',
      'sandbox',
      '--format',
      'oauthbearer',
      '--user',
      'alice',
      '--host',
      dovecot.host,
      '--port',
      String(dovecot.port),
    ]);
    expect(ob.code).toBe(0);
    expect(await imapAuthenticate('OAUTHBEARER', ob.stdout.trim())).toMatch(/^a1 OK/);
    const xo = await a.ws.cli(['token', 'sandbox', '--format', 'xoauth2', '--user', 'alice']);
    expect(await imapAuthenticate('XOAUTH2', xo.stdout.trim())).toMatch(/^a1 OK/);
    const other = await a.ws.cli(['token', 'sandbox', '--format', 'oauthbearer', '--user', 'mallory']);
    expect(await imapAuthenticate('OAUTHBEARER', other.stdout.trim())).toMatch(/^a1 NO/);
  });

  it('the msmtp snippet from the docs sends through XOAUTH2 with `passwordeval "tokenwarden token …"`', async () => {
    const doc = readFileSync(resolve(import.meta.dirname, '../../docs/integrations.md'), 'utf8');
    const snippet = /```\n(# ~\/\.msmtprc\n[\s\S]*?)```/.exec(doc)?.[1] ?? '';
    expect(snippet).toMatch(/^auth xoauth2/m);
    expect(snippet).toMatch(/^passwordeval "tokenwarden token gmail"$/m);
    // Pointed at the local server (plain SMTP on loopback) and this workspace's connection.
    const rc = snippet
      .replace(/^host .*$/m, `host ${smtp.host}`)
      .replace(/^port .*$/m, `port ${smtp.port}`)
      .replace(/^tls on$/m, 'tls off')
      .replace('token gmail', 'token sandbox');
    const rcFile = join(a.ws.dir, 'msmtprc');
    writeFileSync(rcFile, rc, { mode: 0o600 });
    const before = smtp.received.length;
    const r = await new Promise<{ code: number; stderr: string }>((done) => {
      const child = execFile(
        'msmtp',
        ['-C', rcFile, '-a', 'gmail', 'bob@example.org'],
        {
          env: {
            ...process.env,
            PATH: `${cliOnPath(a.ws.dir)}:${process.env['PATH'] ?? ''}`,
            TOKENWARDEN_CONFIG: a.ws.configPath,
          },
        },
        (err, _out, stderr) => done({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stderr }),
      );
      child.stdin?.on('error', () => undefined);
      child.stdin?.end('From: agent@example.com\r\nTo: bob@example.org\r\nSubject: via msmtp\r\n\r\nhello\r\n');
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(smtp.received.length).toBe(before + 1);
    expect(smtp.received.at(-1)?.user).toBe('agent@example.com');
    expect(smtp.received.at(-1)?.raw.toString()).toContain('Subject: via msmtp');
  });

  it('bad input is a usage error (exit 2) naming the problem, with nothing on stdout', async () => {
    for (const [args, msg] of [
      [['--format', 'plain'], /--format must be one of raw, xoauth2, oauthbearer/],
      [['--user', 'x@example.com'], /only apply to --format xoauth2 or oauthbearer/],
      [['--format', 'oauthbearer', '--port', '99999'], /--port must be a port number/],
      [['--format', 'xoauth2', '--user', 'a\tb'], /--user must be non-empty text without control characters/],
    ] as const) {
      const r = await a.ws.cli(['token', 'sandbox', ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(msg);
    }
    const noAccount = await a.ws.cli(['token', 'plain', '--format', 'xoauth2']);
    expect(noAccount.code).toBe(2);
    expect(noAccount.stderr).toMatch(/pass --user/);
  });
});
