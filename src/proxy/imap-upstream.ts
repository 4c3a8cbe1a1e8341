/**
 * The upstream half of the IMAP proxy: open a session to the mailbox's IMAP server and log in
 * the way its read route says (XOAUTH2 with the connection's access token, or LOGIN with the
 * App Password), then hand the socket back for byte-for-byte relaying. Only the handful of
 * IMAP exchanges needed to log in are spoken here (greeting, STARTTLS, AUTHENTICATE, LOGIN).
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { TransientError } from '../core/errors.js';
import { isLoopbackHost } from '../oauth/endpoint-policy.js';

export interface UpstreamTarget {
  host: string;
  port: number;
  secure?: boolean | undefined;
  starttls?: boolean | undefined;
  tlsRejectUnauthorized?: boolean | undefined;
  timeoutMs?: number | undefined;
}

export type UpstreamCredential =
  { kind: 'xoauth2'; user: string; accessToken: string } | { kind: 'login'; user: string; password: string };

export type UpstreamResult =
  | {
      ok: true;
      socket: Socket | TLSSocket;
      /** Text of the tagged OK (response code included), for the client's own OK. */
      okText: string;
      /** Untagged lines the server sent during login (e.g. `* CAPABILITY …`), CRLF-terminated. */
      untagged: string;
      /** Bytes already read past the tagged OK. */
      rest: Buffer;
    }
  | { ok: false; kind: 'auth' | 'transient'; message: string };

/** Reads CRLF lines from a socket; `detach()` returns what was read beyond the last line. */
class LineReader {
  private buf = Buffer.alloc(0);
  private waiter: { resolve: (l: string) => void; reject: (e: Error) => void } | null = null;
  private failed: Error | null = null;
  private readonly onData = (d: Buffer): void => {
    this.buf = Buffer.concat([this.buf, d]);
    if (this.buf.length > 64 * 1024) this.fail(new Error('upstream sent an over-long line'));
    this.deliver();
  };
  private readonly onEnd = (): void => this.fail(new Error('upstream closed the connection'));
  private readonly onError = (e: Error): void => this.fail(e);

  constructor(private readonly sock: Socket) {
    sock.on('data', this.onData);
    sock.on('end', this.onEnd);
    sock.on('close', this.onEnd);
    sock.on('error', this.onError);
  }

  line(): Promise<string> {
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
      this.deliver();
    });
  }

  detach(): Buffer {
    this.sock.off('data', this.onData);
    this.sock.off('end', this.onEnd);
    this.sock.off('close', this.onEnd);
    this.sock.off('error', this.onError);
    const rest = this.buf;
    this.buf = Buffer.alloc(0);
    return rest;
  }

  private fail(e: Error): void {
    this.failed ??= e;
    this.deliver();
  }

  private deliver(): void {
    const w = this.waiter;
    if (!w) return;
    const i = this.buf.indexOf('\r\n');
    if (i >= 0) {
      this.waiter = null;
      const line = this.buf.subarray(0, i).toString('utf8');
      this.buf = this.buf.subarray(i + 2);
      w.resolve(line);
    } else if (this.failed) {
      this.waiter = null;
      w.reject(this.failed);
    }
  }
}

class AuthRefused extends Error {}

/** `"quoted"` when the value is plain printable ASCII, else null (sent as a literal). */
function quoted(s: string): string | null {
  return /^[\x20-\x7e]*$/.test(s) ? `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"` : null;
}

const oneLine = (s: string): string => s.replace(/[\r\n]+/g, ' ').slice(0, 300);

/** Open, (STARTTLS,) authenticate; never throws. */
export async function openUpstream(t: UpstreamTarget, cred: UpstreamCredential): Promise<UpstreamResult> {
  const timeoutMs = t.timeoutMs ?? 30_000;
  const secure = t.secure ?? t.port === 993;
  // STARTTLS is required towards remote hosts unless the route says `starttls: false` (as the read route does).
  const starttls = !secure && (t.starttls ?? !isLoopbackHost(t.host));
  let sock: Socket | TLSSocket | null = null;
  const timer = setTimeout(() => sock?.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  try {
    sock = await connectSocket(t, secure, (s) => (sock = s)); // the timer can abort a connect that hangs
    let reader = new LineReader(sock);
    const greeting = await reader.line();
    if (!/^\* OK\b/i.test(greeting)) throw new TransientError(`unexpected greeting: ${oneLine(greeting)}`);
    let seq = 0;
    const nextTag = (): string => `tw${++seq}`;
    if (starttls) {
      const tag = nextTag();
      sock.write(`${tag} STARTTLS\r\n`);
      const done = await tagged(reader, tag, sock);
      if (!done.ok) throw new TransientError(`STARTTLS refused: ${done.text}`);
      reader.detach();
      sock = await upgradeToTls(sock, t);
      reader = new LineReader(sock);
    }
    const tag = nextTag();
    let untagged = '';
    let result: { ok: boolean; text: string };
    if (cred.kind === 'xoauth2') {
      sock.write(`${tag} AUTHENTICATE XOAUTH2\r\n`);
      const first = await reader.line();
      if (!first.startsWith('+')) {
        result = parseTagged(first, tag) ?? { ok: false, text: oneLine(first) };
      } else {
        const ir = Buffer.from(`user=${cred.user}\x01auth=Bearer ${cred.accessToken}\x01\x01`).toString('base64');
        sock.write(`${ir}\r\n`);
        result = await tagged(reader, tag, sock, (l) => (untagged += `${l}\r\n`));
      }
    } else {
      const parts: (string | Buffer)[] = [`${tag} LOGIN `];
      for (const [i, v] of [cred.user, cred.password].entries()) {
        if (i > 0) parts.push(' ');
        const q = quoted(v);
        parts.push(q ?? Buffer.from(v, 'utf8'));
      }
      result = await sendWithLiterals(reader, sock, tag, parts, (l) => (untagged += `${l}\r\n`));
    }
    if (!result.ok) throw new AuthRefused(result.text);
    clearTimeout(timer);
    const rest = reader.detach();
    return { ok: true, socket: sock, okText: result.text, untagged, rest };
  } catch (e) {
    clearTimeout(timer);
    sock?.destroy();
    if (e instanceof AuthRefused) return { ok: false, kind: 'auth', message: oneLine(e.message) };
    const code = (e as { code?: unknown }).code;
    const msg = e instanceof Error ? e.message : String(e);
    return { ok: false, kind: 'transient', message: oneLine(typeof code === 'string' ? `${code}: ${msg}` : msg) };
  }
}

/** A TCP or TLS connection to the upstream; `onSocket` sees the socket before it connects. */
function connectSocket(
  t: UpstreamTarget,
  secure: boolean,
  onSocket: (s: Socket | TLSSocket) => void,
): Promise<Socket | TLSSocket> {
  return new Promise<Socket | TLSSocket>((resolve, reject) => {
    const s = secure
      ? tlsConnect({
          host: t.host,
          port: t.port,
          servername: isIp(t.host) ? undefined : t.host,
          rejectUnauthorized: t.tlsRejectUnauthorized ?? true,
        })
      : netConnect({ host: t.host, port: t.port });
    onSocket(s);
    s.once(secure ? 'secureConnect' : 'connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** TLS over the plain socket after the server accepted STARTTLS. */
function upgradeToTls(plain: Socket | TLSSocket, t: UpstreamTarget): Promise<TLSSocket> {
  return new Promise<TLSSocket>((resolve, reject) => {
    const s = tlsConnect({
      socket: plain,
      servername: isIp(t.host) ? undefined : t.host,
      rejectUnauthorized: t.tlsRejectUnauthorized ?? true,
    });
    s.once('secureConnect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

function isIp(h: string): boolean {
  return /^[\d.]+$/.test(h) || h.includes(':');
}

function parseTagged(line: string, tag: string): { ok: boolean; text: string } | null {
  const m = new RegExp(`^${tag} (OK|NO|BAD)\\b ?(.*)$`, 'i').exec(line);
  return m ? { ok: (m[1] ?? '').toUpperCase() === 'OK', text: m[2] ?? '' } : null;
}

/**
 * Read until `tag`'s completion. A `+` continuation here is a SASL error challenge (XOAUTH2
 * sends its error as JSON): answer it with an empty line, as the mechanism requires.
 */
async function tagged(
  reader: LineReader,
  tag: string,
  sock: Socket,
  onUntagged?: (line: string) => void,
): Promise<{ ok: boolean; text: string }> {
  for (;;) {
    const line = await reader.line();
    const t = parseTagged(line, tag);
    if (t) return t;
    if (line.startsWith('+')) sock.write('\r\n');
    else if (line.startsWith('*')) onUntagged?.(line);
  }
}

/** Send a command whose arguments may need literals: wait for `+` before each literal's bytes. */
async function sendWithLiterals(
  reader: LineReader,
  sock: Socket,
  tag: string,
  parts: (string | Buffer)[],
  onUntagged: (line: string) => void,
): Promise<{ ok: boolean; text: string }> {
  let pending = '';
  for (const p of parts) {
    if (typeof p === 'string') {
      pending += p;
      continue;
    }
    sock.write(`${pending}{${p.length}}\r\n`);
    pending = '';
    for (;;) {
      const line = await reader.line();
      if (line.startsWith('+')) break;
      const t = parseTagged(line, tag);
      if (t) return t;
      onUntagged(line);
    }
    sock.write(p);
  }
  sock.write(`${pending}\r\n`);
  return tagged(reader, tag, sock, onUntagged);
}
