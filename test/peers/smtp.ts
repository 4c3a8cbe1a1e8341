/**
 * A real SMTP server for tests (`smtp-server`, the nodemailer project's server) on an
 * ephemeral 127.0.0.1 port: PLAIN/LOGIN checked against an App Password map, XOAUTH2 checked
 * by an injectable `verifyToken` (e.g. oidc-provider introspection). Records every message.
 * `setDown(true)` closes the listener (connections refused); `setDown(false)` listens again
 * on the same port.
 */
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  raw: Buffer;
  envelope: { from: string; to: string[] };
  user: string | undefined;
  method: string | undefined;
  /** Message-ID header value (or null). */
  messageId: string | null;
}

export interface SmtpPeerOptions {
  /** user → App Password accepted over PLAIN/LOGIN. */
  passwords?: Record<string, string>;
  /** XOAUTH2 bearer check (default: reject every token). */
  verifyToken?: (token: string, user: string) => Promise<boolean>;
  port?: number;
  /**
   * Awaited before the server answers MAIL FROM (`mail`) or the end of DATA (`data`; the
   * message is already recorded): lets a test kill a client mid-transaction.
   */
  beforeReply?: (stage: 'mail' | 'data') => Promise<void>;
}

export interface SmtpPeer {
  host: string;
  port: number;
  received: ReceivedMail[];
  /** Received copies carrying this Message-ID. */
  countByMessageId(messageId: string): number;
  /** Resolves when `n` messages in total have been received. */
  waitForCount(n: number, timeoutMs?: number): Promise<void>;
  authFailures: { user: string | undefined; method: string }[];
  setDown(down: boolean): Promise<void>;
  stop(): Promise<void>;
}

function headerValue(raw: Buffer, name: string): string | null {
  const head = raw.toString('latin1').split(/\r?\n\r?\n/, 1)[0] ?? '';
  const unfolded = head.replace(/\r?\n[ \t]+/g, ' ');
  const re = new RegExp(`^${name}:\\s*(.*)$`, 'im');
  return re.exec(unfolded)?.[1]?.trim() ?? null;
}

export async function startSmtpPeer(opts: SmtpPeerOptions = {}): Promise<SmtpPeer> {
  const received: ReceivedMail[] = [];
  const authFailures: { user: string | undefined; method: string }[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  const passwords = opts.passwords ?? {};
  const verify = opts.verifyToken ?? (async () => false);

  const make = (): SMTPServer =>
    new SMTPServer({
      authMethods: ['PLAIN', 'LOGIN', 'XOAUTH2'],
      allowInsecureAuth: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      // A pooled client keeps connections open: do not wait 30 s for them on close.
      closeTimeout: 100,
      onAuth(auth, _session, cb) {
        if (auth.method === 'XOAUTH2') {
          verify(auth.accessToken ?? '', auth.username ?? '').then(
            (ok) => {
              if (ok) return cb(null, { user: auth.username });
              authFailures.push({ user: auth.username, method: auth.method });
              cb(null, { data: { status: '401', schemes: 'bearer' } });
            },
            () => cb(new Error('token check unavailable')),
          );
          return;
        }
        if (auth.username && passwords[auth.username] !== undefined && passwords[auth.username] === auth.password) {
          return cb(null, { user: auth.username });
        }
        authFailures.push({ user: auth.username, method: auth.method });
        cb(new Error('Invalid username or password'));
      },
      onMailFrom(_address, _session, cb) {
        (opts.beforeReply?.('mail') ?? Promise.resolve()).then(
          () => cb(),
          () => cb(new Error('hold failed')),
        );
      },
      onData(stream, session, cb) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          const raw = Buffer.concat(chunks);
          received.push({
            raw,
            envelope: {
              from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
              to: session.envelope.rcptTo.map((r) => r.address),
            },
            user: typeof session.user === 'string' ? session.user : undefined,
            method: session.transmissionType,
            messageId: headerValue(raw, 'Message-ID'),
          });
          for (const w of [...waiters]) {
            if (received.length >= w.n) {
              waiters.splice(waiters.indexOf(w), 1);
              w.resolve();
            }
          }
          const n = received.length;
          (opts.beforeReply?.('data') ?? Promise.resolve()).then(
            () => cb(null, `Message queued as m${n}`),
            () => cb(new Error('hold failed')),
          );
        });
      },
    });

  // A client killed mid-session resets its socket; smtp-server reports that as an 'error' event
  // on the server, which must not crash the process hosting the peer.
  const make_ = make;
  const makeQuiet = (): ReturnType<typeof make> => {
    const s = make_();
    s.on('error', () => undefined);
    return s;
  };
  let server = makeQuiet();
  const listen = (port: number): Promise<number> =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve((server.server.address() as AddressInfo).port);
      });
    });
  const close = (): Promise<void> => new Promise((resolve) => server.close(() => resolve()));
  const port = await listen(opts.port ?? 0);
  let down = false;

  return {
    host: '127.0.0.1',
    port,
    received,
    authFailures,
    countByMessageId: (id) => received.filter((m) => m.messageId === id).length,
    waitForCount: (n, timeoutMs = 20_000) =>
      received.length >= n
        ? Promise.resolve()
        : new Promise<void>((resolve, reject) => {
            const w = { n, resolve: () => (clearTimeout(t), resolve()) };
            const t = setTimeout(() => {
              waiters.splice(waiters.indexOf(w), 1);
              reject(new Error(`SMTP peer: ${received.length} of ${n} messages after ${timeoutMs} ms`));
            }, timeoutMs);
            waiters.push(w);
          }),
    async setDown(d) {
      if (d === down) return;
      down = d;
      if (d) {
        await close();
      } else {
        server = makeQuiet();
        await listen(port);
      }
    },
    async stop() {
      if (!down) await close();
      down = true;
    },
  };
}
