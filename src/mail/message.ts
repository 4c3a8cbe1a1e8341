/**
 * Outgoing messages: validation, normalisation, MIME composition, stable Message-ID and
 * idempotency key. Everything here happens before a message touches the outbox, so a bad
 * message is rejected with a {@link MailInputError} naming the field and nothing is stored.
 */
import { createHash, randomUUID } from 'node:crypto';
import addressparser from 'nodemailer/lib/addressparser';
import MailComposer from 'nodemailer/lib/mail-composer';
import { MailInputError } from './errors.js';

export interface MailAttachment {
  filename: string;
  /** A Buffer, or a base64 string. */
  content: string | Buffer;
  contentType?: string;
}

/** What a caller hands to `Mailbox.send`. Address fields take `a@b.c`, `"Name" <a@b.c>` or lists. */
export interface MailMessage {
  /** Defaults to the mailbox address. */
  from?: string;
  to: string | string[];
  cc?: string | string[];
  bcc?: string | string[];
  replyTo?: string | string[];
  subject: string;
  text?: string;
  html?: string;
  attachments?: MailAttachment[];
  headers?: Record<string, string>;
  inReplyTo?: string;
  references?: string | string[];
  /** Dedupe key (unique per mailbox). Derived from the normalised message when absent. */
  idempotencyKey?: string;
}

/** SMTP envelope: who the message is delivered to (Bcc included), and the bounce address. */
export interface Envelope {
  from: string;
  to: string[];
}

/** What the outbox stores (sealed) for one message: the exact bytes every route sends. */
export interface OutboxPayload {
  v: 1;
  /** base64 of the composed RFC 5322 message, Bcc header kept (see {@link stripBcc}). */
  raw: string;
  envelope: Envelope;
}

/** A validated, normalised message, ready to compose. */
export interface NormalisedOutgoing {
  from: string;
  fromAddress: string;
  to: string[];
  cc: string[];
  bcc: string[];
  replyTo: string[];
  subject: string;
  text: string | undefined;
  html: string | undefined;
  attachments: { filename: string; content: Buffer; contentType: string | undefined }[];
  headers: Record<string, string>;
  inReplyTo: string | undefined;
  references: string[];
}

// RFC 5321 mailbox, pragmatically: a dot-atom-ish local part and a domain of labels.
const ADDRESS_RE =
  /^[^\s@<>()[\]\\,;:"]+@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const HEADER_NAME_RE = /^[!-9;-~]+$/;
const MSGID_RE = /^<[^<>\s@]+@[^<>\s@]+>$/;
const BASE64_RE = /^[A-Za-z0-9+/\s]*={0,2}\s*$/;
/** Headers the composer owns: a caller may not override them via `headers`. */
const RESERVED_HEADERS = new Set([
  'from',
  'to',
  'cc',
  'bcc',
  'reply-to',
  'subject',
  'message-id',
  'date',
  'mime-version',
  'content-type',
  'content-transfer-encoding',
  'in-reply-to',
  'references',
]);

/**
 * Most recipients (To + Cc + Bcc) one message may have, on every face (library, CLI, HTTP API,
 * MCP): Gmail and Graph refuse more per message, and a larger list is a mass mailing.
 */
export const MAX_RECIPIENTS = 500;

export function isValidAddress(a: string): boolean {
  return a.length <= 254 && ADDRESS_RE.test(a);
}

/** Parse one address field into `Name <addr>`/`addr` strings; throws naming the field. */
function parseAddresses(field: string, value: string | string[] | undefined, required: boolean): string[] {
  const items = value === undefined ? [] : Array.isArray(value) ? value : [value];
  const out: string[] = [];
  items.forEach((item, i) => {
    const where = Array.isArray(value) ? `${field}[${i}]` : field;
    if (typeof item !== 'string') throw new MailInputError(where, 'expected an address string');
    if (/[\r\n]/.test(item)) throw new MailInputError(where, 'line breaks are not allowed in addresses');
    const parsed = addressparser(item, { flatten: true });
    if (parsed.length === 0) throw new MailInputError(where, `"${item}" is not a valid email address`);
    for (const p of parsed) {
      if (!p.address || !isValidAddress(p.address)) {
        throw new MailInputError(where, `"${item}" is not a valid email address`);
      }
      out.push(p.name ? `"${p.name.replace(/["\\]/g, '')}" <${p.address}>` : p.address);
    }
  });
  if (required && out.length === 0) throw new MailInputError(field, 'at least one recipient is required');
  return out;
}

/** The bare address of `Name <addr>` or `addr`. */
export function bareAddress(a: string): string {
  const m = /<([^>]+)>\s*$/.exec(a);
  return (m?.[1] ?? a).trim();
}

function noLineBreaks(field: string, v: string): void {
  if (/[\r\n]/.test(v)) throw new MailInputError(field, 'line breaks are not allowed (header injection)');
}

function msgIdList(field: string, v: string | string[] | undefined): string[] {
  const items = v === undefined ? [] : Array.isArray(v) ? v : v.split(/\s+/).filter(Boolean);
  for (const id of items) {
    noLineBreaks(field, id);
    if (!MSGID_RE.test(id)) throw new MailInputError(field, `"${id}" is not a Message-ID like <id@domain>`);
  }
  return items;
}

/**
 * Validate and normalise. Throws {@link MailInputError} naming the first bad field. Size is
 * checked after composition ({@link prepareOutgoing}).
 */
export function normaliseMessage(msg: MailMessage, mailboxAddress: string): NormalisedOutgoing {
  if (!msg || typeof msg !== 'object') throw new MailInputError('message', 'expected an object');
  const fromList = parseAddresses('from', msg.from ?? mailboxAddress, true);
  if (fromList.length !== 1) throw new MailInputError('from', 'exactly one sender address is required');
  const from = fromList[0] as string;
  const to = parseAddresses('to', msg.to, false);
  const cc = parseAddresses('cc', msg.cc, false);
  const bcc = parseAddresses('bcc', msg.bcc, false);
  if (to.length + cc.length + bcc.length === 0) throw new MailInputError('to', 'at least one recipient is required');
  if (to.length + cc.length + bcc.length > MAX_RECIPIENTS)
    throw new MailInputError(
      'to',
      `at most ${MAX_RECIPIENTS} recipients (to, cc and bcc together) per message; got ${to.length + cc.length + bcc.length}`,
    );
  const replyTo = parseAddresses('replyTo', msg.replyTo, false);
  if (typeof msg.subject !== 'string') throw new MailInputError('subject', 'expected a string');
  noLineBreaks('subject', msg.subject);
  if (msg.text !== undefined && typeof msg.text !== 'string') throw new MailInputError('text', 'expected a string');
  if (msg.html !== undefined && typeof msg.html !== 'string') throw new MailInputError('html', 'expected a string');
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(msg.headers ?? {})) {
    if (!HEADER_NAME_RE.test(k)) throw new MailInputError(`headers.${k}`, 'not a valid header name');
    if (RESERVED_HEADERS.has(k.toLowerCase())) throw new MailInputError(`headers.${k}`, 'set this with its own field');
    if (typeof v !== 'string') throw new MailInputError(`headers.${k}`, 'expected a string');
    noLineBreaks(`headers.${k}`, v);
    headers[k] = v;
  }
  const attachments = (msg.attachments ?? []).map((a, i) => {
    const f = `attachments[${i}]`;
    if (!a || typeof a.filename !== 'string' || a.filename.length === 0)
      throw new MailInputError(`${f}.filename`, 'required');
    noLineBreaks(`${f}.filename`, a.filename);
    if (a.contentType !== undefined) noLineBreaks(`${f}.contentType`, a.contentType);
    let content: Buffer;
    if (Buffer.isBuffer(a.content)) content = a.content;
    else if (typeof a.content === 'string' && BASE64_RE.test(a.content)) content = Buffer.from(a.content, 'base64');
    else throw new MailInputError(`${f}.content`, 'expected a Buffer or a base64 string');
    return { filename: a.filename, content, contentType: a.contentType };
  });
  const inReplyTo = msgIdList('inReplyTo', msg.inReplyTo)[0];
  const references = msgIdList('references', msg.references);
  if (msg.idempotencyKey !== undefined) {
    if (typeof msg.idempotencyKey !== 'string' || msg.idempotencyKey.length === 0 || msg.idempotencyKey.length > 200) {
      throw new MailInputError('idempotencyKey', 'expected a non-empty string of at most 200 characters');
    }
  }
  return {
    from,
    fromAddress: bareAddress(from),
    to,
    cc,
    bcc,
    replyTo,
    subject: msg.subject,
    text: msg.text,
    html: msg.html,
    attachments,
    headers,
    inReplyTo,
    references,
  };
}

/** sha256 over a canonical JSON of the normalised message (addresses lower-cased and sorted). */
export function deriveIdempotencyKey(n: NormalisedOutgoing): string {
  const lower = (xs: string[]): string[] => xs.map((x) => bareAddress(x).toLowerCase()).sort();
  const canonical = JSON.stringify([
    bareAddress(n.from).toLowerCase(),
    lower(n.to),
    lower(n.cc),
    lower(n.bcc),
    lower(n.replyTo),
    n.subject,
    n.text ?? null,
    n.html ?? null,
    n.attachments.map((a) => [a.filename, a.contentType ?? null, createHash('sha256').update(a.content).digest('hex')]),
    Object.entries(n.headers).sort(([a], [b]) => a.localeCompare(b)),
    n.inReplyTo ?? null,
    n.references,
  ]);
  return `sha256:${createHash('sha256').update(canonical).digest('hex')}`;
}

/** `<uuid@domain-of-from>`: assigned once at enqueue, sent unchanged by every retry and route. */
export function newMessageId(fromAddress: string): string {
  const domain = fromAddress.split('@')[1] ?? 'tokenwarden.invalid';
  return `<${randomUUID()}@${domain}>`;
}

/** Compose RFC 5322 bytes (CRLF). The Bcc header is kept: Gmail and Graph read recipients from it. */
export async function composeMime(n: NormalisedOutgoing, messageId: string, date: Date): Promise<Buffer> {
  const node = new MailComposer({
    from: n.from,
    to: n.to,
    cc: n.cc,
    bcc: n.bcc,
    replyTo: n.replyTo.length ? n.replyTo : undefined,
    subject: n.subject,
    text: n.text,
    html: n.html,
    attachments: n.attachments.map((a) => ({ filename: a.filename, content: a.content, contentType: a.contentType })),
    headers: n.headers,
    inReplyTo: n.inReplyTo,
    references: n.references.length ? n.references : undefined,
    messageId,
    date,
    newline: 'win',
    disableFileAccess: true,
    disableUrlAccess: true,
  }).compile();
  node.keepBcc = true;
  return node.build();
}

/**
 * Remove the Bcc header (with folded continuation lines) from the header block. SMTP routes
 * deliver to Bcc recipients by envelope, so the header must not travel with the message.
 */
export function stripBcc(raw: Buffer): Buffer {
  const text = raw.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  const head = end < 0 ? text : text.slice(0, end + 2);
  const rest = end < 0 ? '' : text.slice(end + 2);
  const lines = head.split('\r\n');
  const kept: string[] = [];
  let dropping = false;
  for (const line of lines) {
    if (/^[ \t]/.test(line)) {
      if (!dropping) kept.push(line);
      continue;
    }
    dropping = /^bcc:/i.test(line);
    if (!dropping) kept.push(line);
  }
  return Buffer.from(kept.join('\r\n') + rest, 'latin1');
}

export interface PreparedOutgoing {
  /** Null for a client-composed message ({@link prepareRaw}). */
  normalised: NormalisedOutgoing | null;
  idempotencyKey: string;
  messageId: string;
  raw: Buffer;
  envelope: Envelope;
}

/** Validate, compose and size-check a message. Throws {@link MailInputError}; stores nothing. */
export async function prepareOutgoing(
  msg: MailMessage,
  opts: { mailboxAddress: string; maxBytes: number; now: number },
): Promise<PreparedOutgoing> {
  const n = normaliseMessage(msg, opts.mailboxAddress);
  const idempotencyKey = msg.idempotencyKey ?? deriveIdempotencyKey(n);
  const messageId = newMessageId(n.fromAddress);
  const raw = await composeMime(n, messageId, new Date(opts.now));
  if (raw.length > opts.maxBytes) {
    throw new MailInputError('message', `composed size ${raw.length} bytes exceeds max_message_bytes ${opts.maxBytes}`);
  }
  const envelope: Envelope = { from: n.fromAddress, to: [...n.to, ...n.cc, ...n.bcc].map(bareAddress) };
  return { normalised: n, idempotencyKey, messageId, raw, envelope };
}

/** A message a client composed itself (SMTP proxy): the exact bytes plus the SMTP envelope. */
export interface RawOutgoing {
  raw: Buffer;
  envelope: Envelope;
}

/** Header block of a raw message (up to the first empty line), unfolded, as `name → values`. */
function rawHeaders(raw: Buffer): { head: string; bodyStart: number; get(name: string): string[] } {
  const text = raw.toString('latin1');
  let end = text.indexOf('\r\n\r\n');
  let bodyStart = end + 4;
  if (end < 0) {
    end = text.indexOf('\n\n');
    bodyStart = end + 2;
  }
  if (end < 0) {
    end = text.length;
    bodyStart = text.length;
  }
  const head = text.slice(0, end);
  const unfolded = head.replace(/\r?\n[ \t]+/g, ' ');
  return {
    head,
    bodyStart,
    get(name) {
      const re = new RegExp(`^${name}:[ \\t]*(.*)$`, 'gim');
      return [...unfolded.matchAll(re)].map((m) => (m[1] ?? '').trim());
    },
  };
}

/**
 * Validate a client-composed message and make it safe for every route, changing nothing a
 * reader sees: a missing `Message-ID` or `Date` header is added at the top; envelope
 * recipients absent from To/Cc/Bcc are added as a Bcc header, because the Gmail and Graph
 * routes take recipients from the headers (SMTP routes use the envelope and drop Bcc). The
 * idempotency key is derived from the client's own Message-ID (a client resending the same
 * message after a lost reply is sent once); without one, every message is distinct.
 * Throws {@link MailInputError}; stores nothing.
 */
export function prepareRaw(
  msg: RawOutgoing,
  opts: { mailboxAddress: string; maxBytes: number; now: number },
): PreparedOutgoing {
  const from = msg.envelope.from;
  if (!isValidAddress(from)) throw new MailInputError('envelope.from', `"${from}" is not a valid email address`);
  if (from.toLowerCase() !== bareAddress(opts.mailboxAddress).toLowerCase())
    throw new MailInputError('envelope.from', `only the mailbox address ${opts.mailboxAddress} may send`);
  if (msg.envelope.to.length === 0) throw new MailInputError('envelope.to', 'at least one recipient is required');
  if (msg.envelope.to.length > MAX_RECIPIENTS)
    throw new MailInputError('envelope.to', `at most ${MAX_RECIPIENTS} recipients per message`);
  msg.envelope.to.forEach((a, i) => {
    if (!isValidAddress(a)) throw new MailInputError(`envelope.to[${i}]`, `"${a}" is not a valid email address`);
  });
  if (msg.raw.length > opts.maxBytes)
    throw new MailInputError('message', `size ${msg.raw.length} bytes exceeds max_message_bytes ${opts.maxBytes}`);
  const h = rawHeaders(msg.raw);
  if (h.head.trim() === '' || !/^[!-9;-~]+:/.test(h.head))
    throw new MailInputError('message', 'expected an RFC 5322 message starting with header fields');
  const added: string[] = [];
  // The client's Message-ID is kept as written (receivers see it); one is added when missing.
  const clientId = h.get('Message-ID')[0]?.slice(0, 998) || undefined;
  const messageId = clientId ?? newMessageId(from);
  if (!clientId) added.push(`Message-ID: ${messageId}`);
  if (h.get('Date').length === 0) added.push(`Date: ${new Date(opts.now).toUTCString().replace('GMT', '+0000')}`);
  const listed = new Set(
    ['To', 'Cc', 'Bcc']
      .flatMap((n) => h.get(n))
      .flatMap((v) => addressparser(v, { flatten: true }))
      .map((a) => (a.address ?? '').toLowerCase()),
  );
  const unlisted = [...new Set(msg.envelope.to.filter((a) => !listed.has(a.toLowerCase())))];
  if (unlisted.length > 0) added.push(`Bcc: ${unlisted.join(', ')}`);
  const eol = h.head.includes('\r\n') || h.bodyStart === 0 ? '\r\n' : '\n';
  const raw = added.length
    ? Buffer.concat([Buffer.from(added.map((l) => l + eol).join(''), 'latin1'), msg.raw])
    : msg.raw;
  if (raw.length > opts.maxBytes)
    throw new MailInputError('message', `size ${raw.length} bytes exceeds max_message_bytes ${opts.maxBytes}`);
  const idempotencyKey = clientId
    ? `raw:sha256:${createHash('sha256')
        .update(JSON.stringify([clientId, from.toLowerCase(), msg.envelope.to.map((a) => a.toLowerCase()).sort()]))
        .update(msg.raw)
        .digest('hex')}`
    : `raw:${randomUUID()}`;
  return {
    normalised: null,
    idempotencyKey,
    messageId,
    raw,
    envelope: { from, to: [...msg.envelope.to] },
  };
}

export function encodePayload(p: PreparedOutgoing): string {
  const payload: OutboxPayload = { v: 1, raw: p.raw.toString('base64'), envelope: p.envelope };
  return JSON.stringify(payload);
}

export function decodePayload(s: string): { raw: Buffer; envelope: Envelope } {
  const p = JSON.parse(s) as OutboxPayload;
  return { raw: Buffer.from(p.raw, 'base64'), envelope: p.envelope };
}
