/**
 * IMAP read route via imapflow: App Password or XOAUTH2 (`auth: { user, accessToken }`).
 * A short-lived connection per call: reads are rare and a pooled IMAP session would hold a
 * token that may be rotated under it. Lists INBOX newest first.
 */
import { isLoopbackHost } from '../../oauth/endpoint-policy.js';
import { ImapFlow } from 'imapflow';
import type { FetchMessageObject, SearchObject } from 'imapflow';
import { mailLoginSecrets, scrubProviderText } from '../../core/scrub.js';
import type { TokenSource } from '../../core/types.js';
import { RouteError, errorCode, firstLine, toRouteError } from '../errors.js';
import { formatAddress } from './normalise.js';
import type { ListQuery, NormalisedMessage, ReadRoute } from './types.js';

export interface ImapRouteOptions {
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
  mailbox?: string | undefined;
  timeoutMs?: number | undefined;
}

const TRANSIENT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'NoConnection',
  'EConnectionClosed',
  'CONNECT_TIMEOUT',
  'GREETING_TIMEOUT',
  'UPGRADE_TIMEOUT',
  'ETIMEOUT',
  'ETHROTTLE',
]);

/** Classify an imapflow error. Exported for tests. */
export function classifyImap(e: unknown): 'auth' | 'transient' | 'permanent' {
  const o = (e ?? {}) as { authenticationFailed?: unknown; serverResponseCode?: unknown };
  if (o.authenticationFailed === true || o.serverResponseCode === 'AUTHENTICATIONFAILED') return 'auth';
  const code = errorCode(e);
  if (code && TRANSIENT_CODES.has(code)) return 'transient';
  return 'transient';
}

export class ImapRoute implements ReadRoute {
  readonly kind = 'imap' as const;
  readonly id: string;
  readonly connection: string | undefined;

  constructor(private readonly o: ImapRouteOptions) {
    this.id = o.id;
    this.connection = o.connection;
  }

  private async withClient<T>(fn: (c: ImapFlow) => Promise<T>): Promise<T> {
    let auth: { user: string; pass: string } | { user: string; accessToken: string };
    if (this.o.connection) {
      try {
        auth = { user: this.o.user, accessToken: await this.o.tokens.accessToken(this.o.connection) };
      } catch (e) {
        throw toRouteError(this.id, e);
      }
    } else {
      auth = { user: this.o.user, pass: this.o.password ?? '' };
    }
    const secure = this.o.secure ?? this.o.port === 993;
    const timeout = this.o.timeoutMs ?? 30_000;
    const client = new ImapFlow({
      host: this.o.host,
      port: this.o.port,
      secure,
      // STARTTLS required towards remote hosts unless `starttls: false` (see smtp.ts).
      doSTARTTLS: secure ? undefined : (this.o.starttls ?? !isLoopbackHost(this.o.host)),
      auth,
      logger: false,
      connectionTimeout: timeout,
      greetingTimeout: timeout,
      socketTimeout: timeout * 2,
      tls: { rejectUnauthorized: this.o.tlsRejectUnauthorized ?? true },
    });
    client.on('error', () => {}); // surfaced through the awaited calls below
    try {
      await client.connect();
      return await fn(client);
    } catch (e) {
      throw this.translate(e, 'pass' in auth ? { password: auth.pass } : { accessToken: auth.accessToken });
    } finally {
      await client.logout().catch(() => client.close());
    }
  }

  private translate(e: unknown, secret: { password?: string; accessToken?: string }): RouteError {
    if (e instanceof RouteError) return e;
    const kind = classifyImap(e);
    const o = (e ?? {}) as { responseText?: unknown; serverResponseCode?: unknown };
    const code = errorCode(e) ?? (typeof o.serverResponseCode === 'string' ? o.serverResponseCode : undefined);
    const text = typeof o.responseText === 'string' ? o.responseText : e instanceof Error ? e.message : 'IMAP error';
    // No `cause`: the raw client error may carry the command that held the credential.
    // The server's reply may echo the login we sent.
    const said = scrubProviderText(firstLine(text), mailLoginSecrets(this.o.user, secret));
    return new RouteError(kind, this.id, `${code ?? 'IMAP'}: ${said}`);
  }

  async probe(): Promise<void> {
    await this.withClient(async (c) => {
      await c.noop();
    });
  }

  async list(q: ListQuery): Promise<NormalisedMessage[]> {
    const limit = Math.min(500, q.limit ?? 20);
    return this.withClient(async (c) => {
      const lock = await c.getMailboxLock(this.o.mailbox ?? 'INBOX');
      try {
        const criteria: SearchObject = {};
        if (q.since) criteria.since = q.since;
        if (q.query) criteria.text = q.query;
        if (!q.since && !q.query) criteria.all = true;
        const uids = (await c.search(criteria, { uid: true })) || [];
        const pick = uids.sort((a, b) => a - b).slice(-limit);
        if (pick.length === 0) return [];
        const out: NormalisedMessage[] = [];
        for await (const m of c.fetch(
          pick.join(','),
          { uid: true, envelope: true, internalDate: true },
          { uid: true },
        )) {
          out.push(this.normalise(m));
        }
        // IMAP SINCE has day granularity: filter to the exact instant.
        const since = q.since?.getTime();
        return out
          .filter((m) => since === undefined || Date.parse(m.date) >= since)
          .sort((a, b) => b.date.localeCompare(a.date));
      } finally {
        lock.release();
      }
    });
  }

  async get(id: string): Promise<NormalisedMessage | null> {
    return this.withClient(async (c) => {
      const lock = await c.getMailboxLock(this.o.mailbox ?? 'INBOX');
      try {
        const m = await c.fetchOne(id, { uid: true, envelope: true, internalDate: true }, { uid: true });
        return m ? this.normalise(m) : null;
      } finally {
        lock.release();
      }
    });
  }

  private normalise(m: FetchMessageObject): NormalisedMessage {
    const env = m.envelope ?? {};
    const date = new Date(m.internalDate ?? env.date ?? 0);
    const out: NormalisedMessage = {
      id: String(m.uid),
      from: env.from?.[0] ? formatAddress(env.from[0]) : '',
      to: (env.to ?? []).map(formatAddress),
      subject: env.subject ?? '',
      date: (Number.isNaN(date.getTime()) ? new Date(0) : date).toISOString(),
      route: this.id,
    };
    if (env.messageId) out.messageId = env.messageId;
    if (m.threadId) out.threadId = m.threadId;
    return out;
  }
}
