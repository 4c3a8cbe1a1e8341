/**
 * A real IMAP server for tests: Debian's `dovecot-imapd` run as a child process
 * (`dovecot -F -c <conf>`) on 127.0.0.1 and a free high port, per TEST-PEERS.md: plaintext
 * auth allowed without TLS, a passwd-file passdb (App Passwords), optionally an oauth2 passdb
 * that checks XOAUTH2 bearer tokens at an RFC 7662 `introspection_url` (oidc-provider), a
 * static userdb with Maildir under a temp dir, and no auth-failure penalty delays.
 * OAUTHBEARER is not offered, so imapflow uses XOAUTH2. Stop by SIGTERM to its PID.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  utimesSync,
  writeFileSync,
  readFileSync,
  existsSync,
} from 'node:fs';
import { createServer, connect, type AddressInfo } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

export interface DovecotPeerOptions {
  /** user → App Password (passwd-file passdb). */
  passwords?: Record<string, string>;
  /**
   * RFC 7662 introspection endpoint (with client credentials in the URL, e.g.
   * `http://client:secret@127.0.0.1:PORT/token/introspection`); enables XOAUTH2. The token's
   * `usernameAttribute` (default `sub`) must equal the IMAP user name.
   */
  introspectionUrl?: string;
  usernameAttribute?: string;
  /** Also offer OAUTHBEARER (RFC 7628) beside XOAUTH2 (needs `introspectionUrl`). */
  oauthbearer?: boolean;
}

export interface DovecotPeer {
  host: string;
  port: number;
  pid: number;
  /** Deliver a message into `user`'s INBOX (Maildir `new/`), internal date = `date`. */
  seed(
    user: string,
    m: { from: string; to: string; subject: string; date: Date; messageId?: string; body?: string },
  ): string;
  /** The server's log (for diagnosing failed tests). */
  log(): string;
  stop(): Promise<void>;
}

/** True when the `dovecot` binary is on this machine (CI installs `dovecot-imapd`). */
export function dovecotAvailable(): boolean {
  try {
    execFileSync('dovecot', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Resolve once the server greets on `port` (or reject when the child exits first). */
async function waitForGreeting(port: number, child: ChildProcess, logFile: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  child.once('exit', () => (exited = true));
  for (;;) {
    if (exited)
      throw new Error(`dovecot exited during startup:\n${existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''}`);
    const ok = await new Promise<boolean>((resolve) => {
      const sock = connect(port, '127.0.0.1');
      sock.once('data', (d) => {
        sock.destroy();
        resolve(d.toString().startsWith('* OK'));
      });
      sock.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`dovecot did not greet on port ${port} within ${timeoutMs} ms`);
    // Wait for the child to make progress (its log grows / the port opens): yield briefly.
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startDovecot(opts: DovecotPeerOptions = {}): Promise<DovecotPeer> {
  const dir = mkdtempSync(join(tmpdir(), 'tw-dovecot-'));
  chmodSync(dir, 0o755);
  const isRoot = process.getuid?.() === 0;
  const me = userInfo();
  // Dovecot refuses uid 0 for mail access: as root, mail is owned by the `mail` system user.
  const mailUid = isRoot ? Number(execFileSync('id', ['-u', 'mail']).toString().trim()) : me.uid;
  const mailGid = isRoot ? Number(execFileSync('id', ['-g', 'mail']).toString().trim()) : me.gid;
  const mailRoot = join(dir, 'mail');
  mkdirSync(mailRoot, { mode: 0o755 });
  if (isRoot) chownSync(mailRoot, mailUid, mailGid);
  const port = await freePort();
  const passwd = Object.entries(opts.passwords ?? {})
    .map(([u, p]) => `${u}:{PLAIN}${p}::::::`)
    .join('\n');
  writeFileSync(join(dir, 'passwd'), passwd + '\n', { mode: 0o644 });
  const logFile = join(dir, 'dovecot.log');
  const lines = [
    'protocols = imap',
    'listen = 127.0.0.1',
    `base_dir = ${join(dir, 'run')}`,
    `state_dir = ${join(dir, 'state')}`,
    `instance_name = tw-${randomBytes(4).toString('hex')}`,
    `log_path = ${logFile}`,
    'ssl = no',
    'disable_plaintext_auth = no',
    // Failed logins answer at once (default 2 s) so auth-failure tests stay fast.
    'auth_failure_delay = 0',
    `auth_mechanisms = plain login${opts.introspectionUrl ? ' xoauth2' : ''}${opts.introspectionUrl && opts.oauthbearer ? ' oauthbearer' : ''}`,
    `mail_location = maildir:${mailRoot}/%u/Maildir`,
    `first_valid_uid = ${Math.min(mailUid, 1)}`,
    ...(isRoot
      ? []
      : [
          `default_internal_user = ${me.username}`,
          `default_login_user = ${me.username}`,
          `default_internal_group = ${me.username}`,
        ]),
    'service imap-login {',
    '  inet_listener imap {',
    '    address = 127.0.0.1',
    `    port = ${port}`,
    '  }',
    '  inet_listener imaps {',
    '    port = 0',
    '  }',
    '}',
    'service anvil {',
    '  unix_listener anvil-auth-penalty {',
    '    mode = 0',
    '  }',
    '}',
    'passdb {',
    '  driver = passwd-file',
    `  args = scheme=PLAIN username_format=%u ${join(dir, 'passwd')}`,
    '}',
  ];
  if (opts.introspectionUrl) {
    writeFileSync(
      join(dir, 'oauth2.conf'),
      [
        'introspection_mode = post',
        `introspection_url = ${opts.introspectionUrl}`,
        `username_attribute = ${opts.usernameAttribute ?? 'sub'}`,
        'active_attribute = active',
        'active_value = true',
        'tokeninfo_url = ',
        '',
      ].join('\n'),
      { mode: 0o644 },
    );
    lines.push(
      'passdb {',
      '  driver = oauth2',
      `  mechanisms = xoauth2${opts.oauthbearer ? ' oauthbearer' : ''}`,
      `  args = ${join(dir, 'oauth2.conf')}`,
      '}',
    );
  }
  lines.push('userdb {', '  driver = static', `  args = uid=${mailUid} gid=${mailGid} home=${mailRoot}/%u`, '}');
  const conf = join(dir, 'dovecot.conf');
  writeFileSync(conf, lines.join('\n') + '\n', { mode: 0o644 });

  const child = spawn('dovecot', ['-F', '-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  try {
    await waitForGreeting(port, child, logFile);
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(`${(e as Error).message}\n${output}`);
  }
  let seq = 0;
  return {
    host: '127.0.0.1',
    port,
    pid: child.pid ?? -1,
    seed(user, m) {
      const md = join(mailRoot, user, 'Maildir');
      for (const sub of ['', 'cur', 'new', 'tmp']) {
        mkdirSync(join(md, sub), { recursive: true, mode: 0o700 });
        if (isRoot) chownSync(join(md, sub), mailUid, mailGid);
      }
      if (isRoot) chownSync(join(mailRoot, user), mailUid, mailGid);
      const messageId = m.messageId ?? `<seed${++seq}.${randomBytes(4).toString('hex')}@example.com>`;
      const raw = `From: ${m.from}\r\nTo: ${m.to}\r\nSubject: ${m.subject}\r\nDate: ${m.date.toUTCString()}\r\nMessage-ID: ${messageId}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${m.body ?? 'hello'}\r\n`;
      const file = join(md, 'new', `${Math.floor(m.date.getTime() / 1000)}.M${++seq}P${process.pid}.tw`);
      writeFileSync(file, raw, { mode: 0o600 });
      if (isRoot) chownSync(file, mailUid, mailGid);
      utimesSync(file, m.date, m.date);
      return messageId;
    },
    log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '') + output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((r) => child.once('exit', () => r()));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
