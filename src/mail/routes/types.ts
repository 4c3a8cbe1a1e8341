/** Route contracts: one way to send (Gmail REST, Graph, SMTP) or read (Gmail, Graph, IMAP). */
import type { Envelope } from '../message.js';

export type RouteKind = 'gmail' | 'graph' | 'smtp' | 'imap';

export interface SendMeta {
  /** Outbox id (for logs). */
  id: string;
  /** Stable RFC 5322 Message-ID of the raw message. */
  messageId: string;
}

export interface SendRoute {
  /** e.g. `gmail:gmail`, `smtp:smtp.gmail.com`. Unique within a mailbox's send routes. */
  readonly id: string;
  readonly kind: RouteKind;
  /** Connection whose token the route uses (absent for App Password routes). */
  readonly connection: string | undefined;
  /** Throws {@link RouteError} (classified), never a raw provider error. */
  send(raw: Buffer, envelope: Envelope, meta: SendMeta): Promise<{ providerId?: string }>;
  /** Cheap liveness/auth check; resolves with an optional note (e.g. `probe limited by scopes`). */
  probe(): Promise<{ note?: string } | void>;
  close?(): Promise<void>;
}

/** One message as every read route returns it. */
export interface NormalisedMessage {
  id: string;
  threadId?: string;
  messageId?: string;
  from: string;
  to: string[];
  subject: string;
  /** ISO 8601. */
  date: string;
  snippet?: string;
  route: string;
}

export interface ListQuery {
  since?: Date;
  /** Provider search text (Gmail `q`, Graph `$search`, IMAP TEXT). */
  query?: string;
  /** Default 20, max 500. */
  limit?: number;
}

export interface ReadRoute {
  readonly id: string;
  readonly kind: RouteKind;
  readonly connection: string | undefined;
  /** Newest first. */
  list(q: ListQuery): Promise<NormalisedMessage[]>;
  get?(id: string): Promise<NormalisedMessage | null>;
  probe(): Promise<{ note?: string } | void>;
  close?(): Promise<void>;
}
