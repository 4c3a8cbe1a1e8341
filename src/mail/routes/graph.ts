/**
 * Microsoft Graph route.
 * - send: `POST /v1.0/me/sendMail` with the MIME message base64-encoded as `text/plain`
 *   (https://learn.microsoft.com/graph/api/user-sendmail, "send a message using MIME
 *   format"); Graph answers 202 with no body and no message id.
 * - list: `GET /v1.0/me/messages?$top=&$filter=receivedDateTime ge …&$orderby=…`.
 * - probe: `GET /v1.0/me`.
 */
import type { HttpDeps } from './http.js';
import { bearerJson } from './http.js';
import { formatAddress } from './normalise.js';
import type { ListQuery, NormalisedMessage, ReadRoute, SendMeta, SendRoute } from './types.js';
import type { Envelope } from '../message.js';

export const GRAPH_API_BASE = 'https://graph.microsoft.com';
const SELECT = 'id,conversationId,internetMessageId,subject,from,toRecipients,receivedDateTime,bodyPreview';

interface GraphAddress {
  emailAddress?: { name?: string; address?: string };
}
interface GraphMessage {
  id: string;
  conversationId?: string;
  internetMessageId?: string;
  subject?: string;
  from?: GraphAddress;
  toRecipients?: GraphAddress[];
  receivedDateTime?: string;
  bodyPreview?: string;
}

export interface GraphRouteOptions extends HttpDeps {
  apiBase?: string | undefined;
}

export class GraphRoute implements SendRoute, ReadRoute {
  readonly kind = 'graph' as const;
  readonly id: string;
  readonly connection: string;
  private readonly base: string;

  constructor(private readonly o: GraphRouteOptions) {
    this.connection = o.connection;
    this.id = `graph:${o.connection}`;
    this.base = `${(o.apiBase ?? GRAPH_API_BASE).replace(/\/+$/, '')}/v1.0/me`;
  }

  async send(raw: Buffer, _envelope?: Envelope, _meta?: SendMeta): Promise<{ providerId?: string }> {
    await bearerJson(this.id, this.o, `${this.base}/sendMail`, {
      method: 'POST',
      body: raw.toString('base64'),
      contentType: 'text/plain',
    });
    return {};
  }

  async probe(): Promise<void> {
    await bearerJson(this.id, this.o, this.base);
  }

  async list(q: ListQuery): Promise<NormalisedMessage[]> {
    const params = new URLSearchParams({ $top: String(Math.min(500, q.limit ?? 20)), $select: SELECT });
    if (q.query) {
      // $search cannot be combined with $orderby; `since` is then applied to the results.
      params.set('$search', `"${q.query.replace(/"/g, '')}"`);
    } else {
      params.set('$orderby', 'receivedDateTime desc');
      if (q.since) params.set('$filter', `receivedDateTime ge ${q.since.toISOString()}`);
    }
    const res = (await bearerJson(this.id, this.o, `${this.base}/messages?${params.toString()}`)) as {
      value?: GraphMessage[];
    } | null;
    let msgs = (res?.value ?? []).map((m) => this.normalise(m));
    if (q.query && q.since) {
      const t = q.since.getTime();
      msgs = msgs.filter((m) => Date.parse(m.date) >= t);
    }
    return msgs;
  }

  async get(id: string): Promise<NormalisedMessage | null> {
    const m = (await bearerJson(
      this.id,
      this.o,
      `${this.base}/messages/${encodeURIComponent(id)}?$select=${SELECT}`,
    )) as GraphMessage | null;
    return m ? this.normalise(m) : null;
  }

  private normalise(m: GraphMessage): NormalisedMessage {
    const out: NormalisedMessage = {
      id: m.id,
      from: m.from?.emailAddress ? formatAddress(m.from.emailAddress) : '',
      to: (m.toRecipients ?? []).map((r) => formatAddress(r.emailAddress ?? {})),
      subject: m.subject ?? '',
      date: new Date(m.receivedDateTime ?? 0).toISOString(),
      route: this.id,
    };
    if (m.conversationId) out.threadId = m.conversationId;
    if (m.internetMessageId) out.messageId = m.internetMessageId;
    if (m.bodyPreview) out.snippet = m.bodyPreview;
    return out;
  }
}
