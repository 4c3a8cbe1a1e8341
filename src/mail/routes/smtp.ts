/**
 * SMTP route via nodemailer's pooled transport: App Password (`password`) or XOAUTH2 with a
 * connection's access token (`user=…^Aauth=Bearer …^A^A`, https://developers.google.com/gmail/imap/xoauth2-protocol).
 * Implicit TLS by default on 465; `starttls: true` requires STARTTLS on a plain port.
 *
 * SMTP replies are classified here: 535/534/530 and nodemailer EAUTH are auth failures,
 * 4xx replies and socket/timeout errors are transient, other 5xx replies are permanent.
 */
import { isLoopbackHost } from '../../oauth/endpoint-policy.js';
import { createTransport } from 'nodemailer';
import { mailLoginSecrets, scrubProviderText } from '../../core/scrub.js';
import type { TokenSource } from '../../core/types.js';
import type { Envelope } from '../message.js';
import { stripBcc } from '../message.js';
import { RouteError, errorCode, firstLine, toRouteError } from '../errors.js';
import type { SendRoute } from './types.js';

export interface SmtpRouteOptions {
  id: string;
  host: string;
  port: number;
  secure?: boolean | undefined;
  starttls?: boolean | undefined;
  user: string;
  password?: string | undefined;
  connection?: string | undefined;
  tlsRejectUnauthorized?: boolean | undefined;
  tokens: TokenSource;
  /** Socket/greeting timeouts (default 30 s). */
  timeoutMs?: number | undefined;
}

type Transporter = ReturnType<typeof createTransport>;

const AUTH_REPLIES = new Set([530, 534, 535]);
const TRANSIENT_CODES = new Set([
  'ECONNECTION',
  'ETIMEDOUT',
  'ESOCKET',
  'EDNS',
  'ECONNREFUSED',
  'ECONNRESET',
  'EPROTOCOL',
  'ETLS',
  'EPIPE',
]);

/** Classify a nodemailer error. Exported for tests. */
export function classifySmtp(e: unknown): 'auth' | 'transient' | 'permanent' {
  const code = errorCode(e);
  const reply = (e as { responseCode?: unknown } | null)?.responseCode;
  const rc = typeof reply === 'number' ? reply : undefined;
  if (rc !== undefined && AUTH_REPLIES.has(rc)) return 'auth';
  if (code === 'EAUTH' || code === 'ENOAUTH') return rc !== undefined && rc >= 400 && rc < 500 ? 'transient' : 'auth';
  if (rc !== undefined && rc >= 400 && rc < 500) return 'transient';
  if (rc !== undefined && rc >= 500) return 'permanent';
  if (code && TRANSIENT_CODES.has(code)) return 'transient';
  return 'transient';
}

export class SmtpRoute implements SendRoute {
  readonly kind = 'smtp' as const;
  readonly id: string;
  readonly connection: string | undefined;
  private transport: Transporter | null = null;
  private transportToken: string | null = null;

  constructor(private readonly o: SmtpRouteOptions) {
    this.id = o.id;
    this.connection = o.connection;
  }

  /** A pooled transport for the current credential; rebuilt when the access token changes. */
  private async transporter(): Promise<Transporter> {
    let token: string | null = null;
    if (this.o.connection) {
      try {
        token = await this.o.tokens.accessToken(this.o.connection);
      } catch (e) {
        throw toRouteError(this.id, e);
      }
    }
    if (this.transport && token === this.transportToken) return this.transport;
    this.transport?.close();
    const { secure, requireTLS, ignoreTLS } = smtpTransportSecurity(this.o);
    const timeout = this.o.timeoutMs ?? 30_000;
    this.transport = createTransport({
      pool: true,
      // As many as the outbox delivers at once (mailbox deliveryConcurrency, 4): with fewer, half
      // the deliveries wait for a connection (bench/smtp-proxy.ts, docs/benchmarks.md).
      maxConnections: 4,
      host: this.o.host,
      port: this.o.port,
      secure,
      requireTLS,
      ignoreTLS,
      connectionTimeout: timeout,
      greetingTimeout: timeout,
      socketTimeout: timeout * 2,
      tls: { rejectUnauthorized: this.o.tlsRejectUnauthorized ?? true },
      auth:
        token !== null
          ? { type: 'OAuth2', user: this.o.user, accessToken: token }
          : { user: this.o.user, pass: this.o.password ?? '' },
      logger: false,
      debug: false,
    });
    this.transportToken = token;
    return this.transport;
  }

  async send(raw: Buffer, envelope: Envelope): Promise<{ providerId?: string }> {
    const t = await this.transporter();
    try {
      const info = (await t.sendMail({ envelope: { from: envelope.from, to: envelope.to }, raw: stripBcc(raw) })) as {
        response?: string;
      };
      const queued = /queued as ([^\s]+)/i.exec(info.response ?? '')?.[1];
      return queued ? { providerId: queued } : {};
    } catch (e) {
      throw this.translate(e);
    }
  }

  async probe(): Promise<void> {
    const t = await this.transporter();
    try {
      await t.verify();
    } catch (e) {
      throw this.translate(e);
    }
  }

  private translate(e: unknown): RouteError {
    const kind = classifySmtp(e);
    const code = errorCode(e);
    const reply = (e as { responseCode?: unknown }).responseCode;
    // nodemailer's message carries the server reply, which may echo the credential we sent.
    const secrets = mailLoginSecrets(this.o.user, { password: this.o.password, accessToken: this.transportToken });
    const msg = scrubProviderText(e instanceof Error ? firstLine(e.message) : 'SMTP error', secrets);
    // No `cause`: nodemailer errors carry the failed command, which for AUTH holds the credential.
    return new RouteError(kind, this.id, `${code ?? 'SMTP'}${typeof reply === 'number' ? ` ${reply}` : ''}: ${msg}`);
  }

  async close(): Promise<void> {
    this.transport?.close();
    this.transport = null;
    this.transportToken = null;
  }
}

/**
 * TLS for an SMTP route: implicit TLS on 465 (or `secure: true`); otherwise STARTTLS is
 * required towards any non-loopback host, so an App Password or token never crosses the network
 * in clear, unless the config says `starttls: false` explicitly.
 */
export function smtpTransportSecurity(o: {
  host: string;
  port: number;
  secure?: boolean | undefined;
  starttls?: boolean | undefined;
}): {
  secure: boolean;
  requireTLS: boolean;
  ignoreTLS: boolean;
} {
  const secure = o.secure ?? o.port === 465;
  return {
    secure,
    requireTLS: !secure && (o.starttls ?? !isLoopbackHost(o.host)),
    ignoreTLS: !secure && o.starttls === false,
  };
}
