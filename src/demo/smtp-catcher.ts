/**
 * The demo's mail server: `smtp-server` (the nodemailer project's server) on an ephemeral
 * 127.0.0.1 port. It accepts XOAUTH2 with an access token the sandbox provider still honours
 * (checked by RFC 7662 introspection, as Gmail checks its own tokens) and PLAIN/LOGIN with an
 * App Password, and keeps every message it receives in memory.
 */
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface CaughtMail {
  /** `xoauth2` or `password`: which credential carried the message in. */
  auth: 'xoauth2' | 'password';
  to: string[];
  subject: string;
  messageId: string | null;
}

export interface SmtpCatcher {
  host: string;
  port: number;
  caught: CaughtMail[];
  stop(): Promise<void>;
}

export async function startSmtpCatcher(opts: {
  user: string;
  appPassword: string;
  /** Is this bearer token valid right now (introspection at the sandbox provider)? */
  verifyToken: (token: string) => Promise<boolean>;
}): Promise<SmtpCatcher> {
  const caught: CaughtMail[] = [];
  const server = new SMTPServer({
    authMethods: ['PLAIN', 'LOGIN', 'XOAUTH2'],
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    closeTimeout: 100,
    onAuth(auth, _session, cb) {
      if (auth.method === 'XOAUTH2') {
        opts.verifyToken(auth.accessToken ?? '').then(
          // RFC 7628 §3.2.2-style failure: the client learns the bearer token is no good.
          (ok) =>
            ok && auth.username === opts.user
              ? cb(null, { user: 'xoauth2' })
              : cb(null, { data: { status: '401', schemes: 'bearer' } }),
          () => cb(new Error('token check unavailable')),
        );
        return;
      }
      if (auth.username === opts.user && auth.password === opts.appPassword) return cb(null, { user: 'password' });
      cb(new Error('Invalid username or password'));
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const head = (
          Buffer.concat(chunks)
            .toString('latin1')
            .split(/\r?\n\r?\n/, 1)[0] ?? ''
        ).replace(/\r?\n[ \t]+/g, ' ');
        const header = (name: string): string | null =>
          new RegExp(`^${name}:\\s*(.*)$`, 'im').exec(head)?.[1]?.trim() ?? null;
        caught.push({
          auth: session.user === 'xoauth2' ? 'xoauth2' : 'password',
          to: session.envelope.rcptTo.map((r) => r.address),
          subject: header('Subject') ?? '',
          messageId: header('Message-ID'),
        });
        cb(null, `queued as m${caught.length}`);
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    host: '127.0.0.1',
    port: (server.server.address() as AddressInfo).port,
    caught,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
