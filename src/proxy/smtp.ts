/**
 * The local SMTP side of a mail proxy (`smtp-server`): a password-only client (printer, cron
 * `mail`, msmtp, a script with smtplib) logs in with AUTH PLAIN/LOGIN against the proxy
 * password and hands over a message. The message, exactly as received, goes into the
 * mailbox's durable outbox before the client hears 250; the outbox then delivers it through
 * the mailbox's send routes (XOAUTH2, Gmail API, Graph, App Password failover). A dead grant
 * therefore never bounces a message: it waits in the outbox until a route works again.
 *
 * Envelope rules: MAIL FROM must be the mailbox address (553 otherwise); at most
 * MAX_RECIPIENTS recipients; the message at most the mailbox's `max_message_bytes`.
 */
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../core/logger.js';
import { MailInputError } from '../mail/errors.js';
import type { Mailbox } from '../mail/mailbox.js';
import { MAX_RECIPIENTS, bareAddress, isValidAddress } from '../mail/message.js';
import type { AuthGate } from './auth.js';
import type { ProxyTls, RunningProxy } from './types.js';

export interface SmtpProxyOptions {
  name: string;
  host: string;
  port: number;
  mailbox: Mailbox;
  maxBytes: number;
  gate: AuthGate;
  /** Plaintext AUTH allowed (loopback listen). */
  loopback: boolean;
  tls: ProxyTls | undefined;
  logger: Logger;
  /** Simultaneous client connections (default 64). */
  maxClients?: number;
}

const reply = (code: number, message: string): Error => Object.assign(new Error(message), { responseCode: code });

type DataStream = Parameters<NonNullable<SMTPServerOptions['onData']>>[0];
type DataSession = Parameters<NonNullable<SMTPServerOptions['onData']>>[1];
type DataCallback = Parameters<NonNullable<SMTPServerOptions['onData']>>[2];

/** DATA: the message read within the size limit, then committed to the mailbox's outbox before 250. */
function queueMessage(o: SmtpProxyOptions, stream: DataStream, session: DataSession, cb: DataCallback): void {
  const chunks: Buffer[] = [];
  let size = 0;
  stream.on('data', (c: Buffer) => {
    size += c.length;
    if (size <= o.maxBytes) chunks.push(c);
  });
  stream.on('end', () => {
    if (stream.sizeExceeded || size > o.maxBytes)
      return cb(reply(552, `5.3.4 Message too big (max_message_bytes ${o.maxBytes})`));
    const envelope = {
      from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
      to: session.envelope.rcptTo.map((r) => r.address),
    };
    o.mailbox.sendRaw({ raw: Buffer.concat(chunks), envelope }).then(
      (r) => {
        o.logger.info('mail proxy accepted a message', {
          proxy: o.name,
          id: r.id,
          messageId: r.messageId,
          status: r.status,
        });
        cb(null, `2.0.0 Queued as ${r.id}`);
      },
      (e: unknown) => {
        if (e instanceof MailInputError) return cb(reply(554, `5.6.0 ${e.message}`));
        o.logger.error('mail proxy could not queue a message', {
          proxy: o.name,
          error: e instanceof Error ? e.message : String(e),
        });
        cb(reply(451, '4.3.0 Could not store the message; try again later'));
      },
    );
  });
}

export async function startSmtpProxy(o: SmtpProxyOptions): Promise<RunningProxy> {
  const mailboxAddress = bareAddress(o.mailbox.address).toLowerCase();
  const opts: SMTPServerOptions = {
    banner: 'tokenwarden mail proxy',
    authMethods: ['PLAIN', 'LOGIN'],
    authOptional: false,
    // Plaintext AUTH only on loopback; elsewhere TLS (implicit or STARTTLS) comes first.
    allowInsecureAuth: o.loopback,
    size: o.maxBytes,
    maxClients: o.maxClients ?? 64,
    logger: false,
    closeTimeout: 1_000,
    hideSTARTTLS: !o.tls,
    disabledCommands: o.tls ? [] : ['STARTTLS'],
    ...(o.tls ? { secure: o.tls.mode === 'implicit', key: o.tls.key, cert: o.tls.cert } : {}),
    onAuth(auth, session, cb) {
      o.gate.check(session.remoteAddress, auth.username ?? '', auth.password ?? '').then(
        (ok) => {
          if (ok) return cb(null, { user: auth.username ?? '' });
          o.logger.warn('mail proxy login refused', { proxy: o.name, client: session.remoteAddress });
          cb(reply(535, '5.7.8 Authentication credentials invalid'));
        },
        (e: unknown) => cb(reply(454, `4.7.0 Temporary authentication failure (${String(e)})`)),
      );
    },
    onMailFrom(address, _session, cb) {
      if (address.address.toLowerCase() !== mailboxAddress)
        return cb(reply(553, `5.7.1 Sender must be ${o.mailbox.address}: this proxy sends only as its mailbox`));
      cb();
    },
    onRcptTo(address, session, cb) {
      if (!isValidAddress(address.address)) return cb(reply(553, `5.1.3 "${address.address}" is not a valid address`));
      if (session.envelope.rcptTo.length >= MAX_RECIPIENTS)
        return cb(reply(452, `4.5.3 Too many recipients (at most ${MAX_RECIPIENTS} per message)`));
      cb();
    },
    onData(stream, session, cb) {
      queueMessage(o, stream, session, cb);
    },
  };
  const server = new SMTPServer(opts);
  // A client dropping its socket is reported as a server 'error': log it, never crash.
  server.on('error', (e: Error) => o.logger.debug('mail proxy connection error', { proxy: o.name, error: e.message }));
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.server.off('error', reject);
      resolve();
    });
  });
  const addr = server.server.address() as AddressInfo;
  return {
    name: o.name,
    protocol: 'smtp',
    host: addr.address,
    port: addr.port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
