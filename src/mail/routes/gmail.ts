/**
 * Gmail REST route.
 * - send: `POST /gmail/v1/users/me/messages/send` with `{ raw: base64url(MIME) }`
 *   (https://developers.google.com/gmail/api/reference/rest/v1/users.messages/send).
 *   Gmail reads recipients from the To/Cc/Bcc headers and strips Bcc.
 * - list: `users/me/messages?q=&maxResults=` then `messages/{id}?format=metadata`.
 * - probe: `users/me/profile` — it needs gmail.readonly/modify/compose/metadata or
 *   mail.google.com; with gmail.send alone the probe only checks that a token can be had.
 */
import type { HttpDeps } from './http.js';
import { bearerJson } from './http.js';
import type { ListQuery, NormalisedMessage, ReadRoute, SendMeta, SendRoute } from './types.js';
import type { Envelope } from '../message.js';
import { splitAddressList } from './normalise.js';
import { toRouteError } from '../errors.js';

export const GMAIL_API_BASE = 'https://gmail.googleapis.com';
const PROFILE_SCOPES = [
  'https://mail.google.com/',
  'https://www.googleapis.com/auth/gmail.modify',
  'https://www.googleapis.com/auth/gmail.compose',
  'https://www.googleapis.com/auth/gmail.readonly',
  'https://www.googleapis.com/auth/gmail.metadata',
];

export interface GmailRouteOptions extends HttpDeps {
  apiBase?: string | undefined;
  /** The connection's configured scopes (decides what the probe may call). */
  scopes?: string[] | undefined;
}

interface GmailMessage {
  id: string;
  threadId?: string;
  snippet?: string;
  internalDate?: string;
  payload?: { headers?: { name: string; value: string }[] };
}

export class GmailRoute implements SendRoute, ReadRoute {
  readonly kind = 'gmail' as const;
  readonly id: string;
  readonly connection: string;
  private readonly base: string;

  constructor(private readonly o: GmailRouteOptions) {
    this.connection = o.connection;
    this.id = `gmail:${o.connection}`;
    this.base = `${(o.apiBase ?? GMAIL_API_BASE).replace(/\/+$/, '')}/gmail/v1/users/me`;
  }

  async send(raw: Buffer, _envelope?: Envelope, _meta?: SendMeta): Promise<{ providerId?: string }> {
    const res = (await bearerJson(this.id, this.o, `${this.base}/messages/send`, {
      method: 'POST',
      body: JSON.stringify({ raw: raw.toString('base64url') }),
      contentType: 'application/json',
    })) as { id?: string } | null;
    return res?.id ? { providerId: res.id } : {};
  }

  async probe(): Promise<{ note?: string }> {
    const scopes = this.o.scopes ?? [];
    if (scopes.length > 0 && !scopes.some((s) => PROFILE_SCOPES.includes(s))) {
      // users.getProfile would answer 403 insufficientPermissions and wrongly open the circuit.
      try {
        await this.o.tokens.accessToken(this.connection);
      } catch (e) {
        throw toRouteError(this.id, e);
      }
      return { note: 'probe limited by scopes (gmail.send): checked that a token is available' };
    }
    await bearerJson(this.id, this.o, `${this.base}/profile`);
    return {};
  }

  async list(q: ListQuery): Promise<NormalisedMessage[]> {
    const terms: string[] = [];
    if (q.since) terms.push(`after:${Math.floor(q.since.getTime() / 1000)}`);
    if (q.query) terms.push(q.query);
    const params = new URLSearchParams({ maxResults: String(Math.min(500, q.limit ?? 20)) });
    if (terms.length) params.set('q', terms.join(' '));
    const res = (await bearerJson(this.id, this.o, `${this.base}/messages?${params.toString()}`)) as {
      messages?: { id: string }[];
    } | null;
    const ids = (res?.messages ?? []).map((m) => m.id);
    const out: NormalisedMessage[] = [];
    for (const id of ids) {
      const m = await this.get(id);
      if (m) out.push(m);
    }
    return out;
  }

  async get(id: string): Promise<NormalisedMessage | null> {
    const params = new URLSearchParams({ format: 'metadata' });
    for (const h of ['From', 'To', 'Cc', 'Subject', 'Date', 'Message-ID']) params.append('metadataHeaders', h);
    const m = (await bearerJson(
      this.id,
      this.o,
      `${this.base}/messages/${encodeURIComponent(id)}?${params.toString()}`,
    )) as GmailMessage | null;
    if (!m) return null;
    const header = (n: string): string | undefined =>
      m.payload?.headers?.find((h) => h.name.toLowerCase() === n.toLowerCase())?.value;
    const date = m.internalDate ? new Date(Number(m.internalDate)) : new Date(header('Date') ?? 0);
    const out: NormalisedMessage = {
      id: m.id,
      from: header('From') ?? '',
      to: splitAddressList(header('To')),
      subject: header('Subject') ?? '',
      date: (Number.isNaN(date.getTime()) ? new Date(0) : date).toISOString(),
      route: this.id,
    };
    if (m.threadId) out.threadId = m.threadId;
    const mid = header('Message-ID');
    if (mid) out.messageId = mid;
    if (m.snippet) out.snippet = m.snippet;
    return out;
  }
}
