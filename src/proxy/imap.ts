/**
 * The local IMAP side of a mail proxy. A minimal IMAP front speaks to the client until it has
 * logged in (greeting, CAPABILITY, NOOP, ID, LOGOUT, LOGIN, AUTHENTICATE PLAIN), checks its
 * password against the proxy password, then logs in upstream with the mailbox's IMAP read
 * routes in order (XOAUTH2 with the connection's access token; LOGIN with an App Password)
 * and relays both sockets byte for byte. When no route can log in, the client gets
 * `NO [UNAVAILABLE]` with a sentence naming who was asked to re-authorize and since when.
 */
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { ReauthRequiredError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { FlowRecord } from '../store/types.js';
import type { AuthGate } from './auth.js';
import { openUpstream, type UpstreamCredential, type UpstreamTarget } from './imap-upstream.js';
import type { ProxyTls, RunningProxy } from './types.js';

export interface ImapUpstreamRoute extends UpstreamTarget {
  /** e.g. `imap:imap.gmail.com` (the read route's id). */
  id: string;
  user: string;
  password?: string | undefined;
  connection?: string | undefined;
}

export interface ImapProxyDeps {
  accessToken(connection: string): Promise<string>;
  /** A new access token now (the server refused the current one). */
  forceRefresh(connection: string): Promise<string>;
  /** The open re-authorization flow of a connection, if any. */
  openFlow(connection: string): Promise<FlowRecord | null>;
}

export interface ImapProxyOptions {
  name: string;
  host: string;
  port: number;
  mailboxName: string;
  routes: ImapUpstreamRoute[];
  deps: ImapProxyDeps;
  gate: AuthGate;
  tls: ProxyTls | undefined;
  logger: Logger;
  /** Simultaneous client connections (default 64). */
  maxClients?: number;
  /** Close a connection idle this long before it logs in (default 2 min). */
  preauthIdleMs?: number;
}

const CAPABILITY = 'IMAP4rev1 SASL-IR AUTH=PLAIN ID';
/** Longest command before login (a LOGIN with long literals fits easily). */
const MAX_COMMAND = 16 * 1024;
/** Bytes a client may send after its login command, before the upstream login finished. */
const MAX_PIPELINED = 1024 * 1024;
/** Failed logins on one connection before it is closed. */
const MAX_FAILURES = 3;

type Token = string;
type Parsed =
  | { kind: 'incomplete'; continueAt?: number | undefined }
  | { kind: 'done'; consumed: number; tokens: Token[] }
  | { kind: 'bad'; consumed: number; tag: string; why: string };

/**
 * Parse one IMAP command from the start of `buf`: atoms, quoted strings and literals
 * (`{n}` synchronising, `{n+}` non-synchronising), ended by CRLF (or a bare LF).
 */
export function parseCommand(buf: Buffer): Parsed {
  const tokens: Token[] = [];
  let i = 0;
  const lineEnd = (from: number): number => {
    const j = buf.indexOf(10, from);
    return j < 0 ? -1 : j + 1;
  };
  const bad = (why: string): Parsed => {
    const end = lineEnd(i);
    if (end < 0) return { kind: 'incomplete' };
    return { kind: 'bad', consumed: end, tag: tokens[0] ?? '*', why };
  };
  for (;;) {
    if (i >= buf.length) return { kind: 'incomplete' };
    const c = buf[i] as number;
    if (c === 13) {
      if (i + 1 >= buf.length) return { kind: 'incomplete' };
      if (buf[i + 1] !== 10) return bad('bare CR');
      return { kind: 'done', consumed: i + 2, tokens };
    }
    if (c === 10) return { kind: 'done', consumed: i + 1, tokens };
    if (c === 32) {
      i++;
      continue;
    }
    if (c === 34) {
      let s = '';
      let j = i + 1;
      for (;;) {
        if (j >= buf.length) return { kind: 'incomplete' };
        const d = buf[j] as number;
        if (d === 13 || d === 10) return bad('unterminated quoted string');
        if (d === 92) {
          if (j + 1 >= buf.length) return { kind: 'incomplete' };
          s += String.fromCharCode(buf[j + 1] as number);
          j += 2;
          continue;
        }
        if (d === 34) break;
        s += String.fromCharCode(d);
        j++;
      }
      tokens.push(Buffer.from(s, 'latin1').toString('utf8'));
      i = j + 1;
      continue;
    }
    if (c === 123) {
      const end = lineEnd(i);
      if (end < 0) return { kind: 'incomplete' };
      const m = /^\{(\d{1,6})(\+?)\}\r?\n$/.exec(buf.subarray(i, end).toString('latin1'));
      if (!m) return bad('malformed literal');
      const n = Number(m[1]);
      if (n > MAX_COMMAND) return bad('literal too long');
      if (buf.length < end + n) return { kind: 'incomplete', continueAt: m[2] ? undefined : end };
      tokens.push(buf.subarray(end, end + n).toString('utf8'));
      i = end + n;
      continue;
    }
    let j = i;
    while (j < buf.length && buf[j] !== 32 && buf[j] !== 13 && buf[j] !== 10) j++;
    if (j >= buf.length) return { kind: 'incomplete' };
    tokens.push(buf.subarray(i, j).toString('utf8'));
    i = j;
  }
}

/** One sentence for the client saying why no route logged in, and who was asked since when. */
async function explain(
  mailbox: string,
  failures: { route: ImapUpstreamRoute; why: string; reauth?: ReauthRequiredError }[],
  deps: ImapProxyDeps,
): Promise<string> {
  const parts: string[] = [];
  for (const f of failures) {
    if (f.reauth && f.route.connection) {
      const flow = await deps.openFlow(f.route.connection).catch(() => null);
      const askedVia = flow?.askedVia.length ? flow.askedVia : (f.reauth.reauth.askedVia ?? []);
      const since = flow?.createdAt ?? f.reauth.reauth.askedAt;
      const who = askedVia.length
        ? `asked via ${askedVia.join(', ')}${since ? ` since ${new Date(since).toISOString()}` : ''}`
        : flow
          ? `a ${flow.kind === 'device_code' ? 'device-code' : 'sign-in'} link is open since ${new Date(flow.createdAt).toISOString()} but no channel delivered it`
          : 'no one has been asked yet (start it with `tokenwarden connect`)';
      parts.push(
        `${f.route.id}: connection "${f.route.connection}" awaits re-authorization by a human (${who}; ${f.reauth.diagnosis.summary.replace(/[\r\n]+/g, ' ')})`,
      );
    } else {
      parts.push(`${f.route.id}: ${f.why}`);
    }
  }
  const text = `mailbox "${mailbox}" cannot log in upstream: ${parts.join('; ') || 'no imap read route configured'}`;
  return text.replace(/[\r\n]+/g, ' ').slice(0, 1000);
}

class FrontSession {
  private buf = Buffer.alloc(0);
  private state: 'preauth' | 'busy' | 'relay' | 'closed' = 'preauth';
  private authWait: { tag: string } | null = null;
  private continued = -1;
  private failures = 0;

  constructor(
    private readonly sock: Socket,
    private readonly o: ImapProxyOptions,
  ) {}

  start(): void {
    const idle = this.o.preauthIdleMs ?? 120_000;
    this.sock.setTimeout(idle, () => this.bye('Idle too long before login'));
    this.sock.on('error', () => this.close());
    this.sock.on('close', () => (this.state = 'closed'));
    this.sock.on('data', this.onData);
    this.write(`* OK [CAPABILITY ${CAPABILITY}] tokenwarden IMAP proxy ready`);
  }

  private readonly onData = (d: Buffer): void => {
    this.buf = Buffer.concat([this.buf, d]);
    // Before login only short commands make sense; while the upstream login runs, a client may
    // pipeline its next commands (forwarded once relaying starts), within reason.
    const cap = this.state === 'busy' ? MAX_PIPELINED : MAX_COMMAND + 1024;
    if (this.state !== 'relay' && this.buf.length > cap) {
      this.bye('Command too long');
      return;
    }
    void this.pump();
  };

  private write(line: string): void {
    if (this.state !== 'closed' && !this.sock.destroyed) this.sock.write(`${line}\r\n`);
  }

  private bye(text: string): void {
    this.write(`* BYE ${text}`);
    this.state = 'closed';
    this.sock.end();
    this.sock.destroySoon?.();
  }

  /** The socket closed while a login was awaited (state changes behind TypeScript's narrowing). */
  private isClosed(): boolean {
    return this.state === 'closed';
  }

  private close(): void {
    this.state = 'closed';
    this.sock.destroy();
  }

  private async pump(): Promise<void> {
    while (this.state === 'preauth') {
      if (this.authWait) {
        const nl = this.buf.indexOf(10);
        if (nl < 0) return;
        const line = this.buf.subarray(0, nl).toString('latin1').replace(/\r$/, '');
        this.buf = this.buf.subarray(nl + 1);
        const { tag } = this.authWait;
        this.authWait = null;
        if (line === '*') {
          this.write(`${tag} BAD Authentication cancelled`);
          continue;
        }
        await this.plain(tag, line);
        continue;
      }
      const p = parseCommand(this.buf);
      if (p.kind === 'incomplete') {
        if (p.continueAt !== undefined && p.continueAt !== this.continued) {
          this.continued = p.continueAt;
          this.write('+ Ready for literal data');
        }
        return;
      }
      this.continued = -1;
      this.buf = this.buf.subarray(p.consumed);
      if (p.kind === 'bad') {
        this.write(`${p.tag} BAD ${p.why}`);
        continue;
      }
      await this.command(p.tokens);
    }
  }

  private async command(tokens: Token[]): Promise<void> {
    const [tag, cmdRaw, ...args] = tokens;
    if (!tag) return this.write('* BAD Empty command');
    if (!cmdRaw) return this.write(`${tag} BAD Missing command`);
    const cmd = cmdRaw.toUpperCase();
    switch (cmd) {
      case 'CAPABILITY':
        this.write(`* CAPABILITY ${CAPABILITY}`);
        return this.write(`${tag} OK CAPABILITY completed`);
      case 'NOOP':
        return this.write(`${tag} OK NOOP completed`);
      case 'ID':
        this.write('* ID ("name" "tokenwarden")');
        return this.write(`${tag} OK ID completed`);
      case 'LOGOUT':
        this.write('* BYE tokenwarden IMAP proxy logging out');
        this.write(`${tag} OK LOGOUT completed`);
        this.state = 'closed';
        this.sock.end();
        return;
      case 'STARTTLS':
        return this.write(`${tag} BAD STARTTLS is not offered here (loopback, or implicit TLS)`);
      case 'LOGIN':
        if (args.length !== 2) return this.write(`${tag} BAD LOGIN expects a user name and a password`);
        return this.login(tag, args[0] as string, args[1] as string);
      case 'AUTHENTICATE': {
        const mech = (args[0] ?? '').toUpperCase();
        if (mech !== 'PLAIN') return this.write(`${tag} NO [CANNOT] Only AUTHENTICATE PLAIN is supported`);
        if (args.length > 2) return this.write(`${tag} BAD AUTHENTICATE PLAIN takes at most one argument`);
        if (args[1] !== undefined) return this.plain(tag, args[1] === '=' ? '' : args[1]);
        this.authWait = { tag };
        return this.write('+ ');
      }
      default:
        return this.write(`${tag} BAD ${cmd} is not available before login`);
    }
  }

  /** SASL PLAIN: base64 of `authzid NUL authcid NUL password`. */
  private async plain(tag: string, b64: string): Promise<void> {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) return this.write(`${tag} BAD Invalid base64`);
    const parts = Buffer.from(b64, 'base64').toString('utf8').split('\0');
    if (parts.length !== 3) return this.write(`${tag} BAD Invalid PLAIN response`);
    const [authz, user, pass] = parts as [string, string, string];
    if (authz !== '' && authz !== user) return this.write(`${tag} NO [AUTHORIZATIONFAILED] Cannot act as another user`);
    return this.login(tag, user, pass);
  }

  private async login(tag: string, user: string, pass: string): Promise<void> {
    this.state = 'busy';
    const ok = await this.o.gate.check(this.sock.remoteAddress ?? '?', user, pass);
    if (this.isClosed()) return;
    if (!ok) {
      this.o.logger.warn('mail proxy login refused', { proxy: this.o.name, client: this.sock.remoteAddress });
      this.state = 'preauth';
      this.write(`${tag} NO [AUTHENTICATIONFAILED] Invalid credentials`);
      if (++this.failures >= MAX_FAILURES) this.bye('Too many failed logins');
      return;
    }
    const failures: { route: ImapUpstreamRoute; why: string; reauth?: ReauthRequiredError }[] = [];
    for (const route of this.o.routes) {
      const r = await this.tryRoute(route);
      if (this.isClosed()) {
        if (r.ok) r.socket.destroy();
        return;
      }
      if (r.ok) return this.relay(tag, route, r);
      failures.push(r.failure);
      this.o.logger.warn('mail proxy upstream login failed', {
        proxy: this.o.name,
        route: route.id,
        error: r.failure.why,
      });
    }
    const why = await explain(this.o.mailboxName, failures, this.o.deps);
    if (this.isClosed()) return;
    this.state = 'preauth';
    this.write(`${tag} NO [UNAVAILABLE] ${why}`);
  }

  private async tryRoute(
    route: ImapUpstreamRoute,
  ): Promise<
    | { ok: true; socket: Socket; okText: string; untagged: string; rest: Buffer }
    | { ok: false; failure: { route: ImapUpstreamRoute; why: string; reauth?: ReauthRequiredError } }
  > {
    const fail = (why: string, reauth?: ReauthRequiredError) =>
      ({ ok: false, failure: { route, why, ...(reauth ? { reauth } : {}) } }) as const;
    if (!route.connection) {
      const r = await openUpstream(route, { kind: 'login', user: route.user, password: route.password ?? '' });
      return r.ok ? r : fail(`${r.kind === 'auth' ? 'App Password refused' : 'unreachable'}: ${r.message}`);
    }
    const conn = route.connection;
    try {
      const cred = (accessToken: string): UpstreamCredential => ({ kind: 'xoauth2', user: route.user, accessToken });
      let r = await openUpstream(route, cred(await this.o.deps.accessToken(conn)));
      // The server refused a token the keeper thought valid (revoked early): refresh once, which also
      // diagnoses a dead grant and asks the human.
      if (!r.ok && r.kind === 'auth') r = await openUpstream(route, cred(await this.o.deps.forceRefresh(conn)));
      return r.ok ? r : fail(`${r.kind === 'auth' ? 'token refused' : 'unreachable'}: ${r.message}`);
    } catch (e) {
      if (e instanceof ReauthRequiredError) return fail('needs re-authorization', e);
      return fail(`no access token: ${(e instanceof Error ? e.message : String(e)).replace(/[\r\n]+/g, ' ')}`);
    }
  }

  private relay(
    tag: string,
    route: ImapUpstreamRoute,
    up: { socket: Socket; okText: string; untagged: string; rest: Buffer },
  ): void {
    this.state = 'relay';
    this.sock.setTimeout(0);
    this.sock.off('data', this.onData);
    const client = this.sock;
    const server = up.socket;
    if (up.untagged) client.write(up.untagged);
    client.write(`${tag} OK ${up.okText || 'Logged in'}\r\n`);
    if (up.rest.length) client.write(up.rest);
    if (this.buf.length) server.write(this.buf);
    this.buf = Buffer.alloc(0);
    this.o.logger.info('mail proxy session relayed', { proxy: this.o.name, route: route.id });
    client.pipe(server);
    server.pipe(client);
    server.on('error', () => client.destroy());
    server.on('close', () => client.destroy());
    client.on('close', () => server.destroy());
  }
}

export async function startImapProxy(o: ImapProxyOptions): Promise<RunningProxy> {
  const sockets = new Set<Socket>();
  const onConnection = (sock: Socket): void => {
    sockets.add(sock);
    sock.once('close', () => sockets.delete(sock));
    new FrontSession(sock, o).start();
  };
  const server: Server =
    o.tls && o.tls.mode === 'implicit'
      ? createTlsServer({ cert: o.tls.cert, key: o.tls.key }, onConnection)
      : createNetServer(onConnection);
  server.maxConnections = o.maxClients ?? 64;
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as { address: string; port: number };
  return {
    name: o.name,
    protocol: 'imap',
    host: addr.address,
    port: addr.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}
