/**
 * `tokenwarden mail send <mailbox>` and `tokenwarden mail list <mailbox>`: through the durable
 * outbox and the mailbox's routes (failover on auth failure, queue on transient failure).
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { UsageError } from '../core/errors.js';
import { parseDuration } from '../core/duration.js';
import { openWarden } from '../warden.js';
import { jsonLine, table, wardenOptions, type Io } from './output.js';

export interface MailSendOptions {
  config?: string;
  mailbox: string;
  to?: string[];
  cc?: string[];
  bcc?: string[];
  subject?: string;
  text?: string;
  html?: string;
  attach?: string[];
  from?: string;
  replyTo?: string;
  inReplyTo?: string;
  idempotencyKey?: string;
  json?: boolean;
  /** Body from stdin when neither --text nor --html is given. */
  stdin?: () => Promise<string>;
}

export async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) return '';
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function runMailSend(o: MailSendOptions, io: Io): Promise<number> {
  if (!o.to?.length) throw new UsageError('mail send needs at least one --to address');
  if (!o.subject) throw new UsageError('mail send needs --subject');
  const text = o.text ?? (o.html ? undefined : await (o.stdin ?? readStdin)());
  const attachments = (o.attach ?? []).map((path) => {
    try {
      return { filename: basename(path), content: readFileSync(path) };
    } catch (e) {
      throw new UsageError(`cannot read attachment ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  });
  const warden = await openWarden(wardenOptions(o, io));
  try {
    const r = await warden.mailbox(o.mailbox).send({
      to: o.to,
      subject: o.subject,
      ...(o.cc?.length ? { cc: o.cc } : {}),
      ...(o.bcc?.length ? { bcc: o.bcc } : {}),
      ...(text !== undefined ? { text } : {}),
      ...(o.html !== undefined ? { html: o.html } : {}),
      ...(attachments.length ? { attachments } : {}),
      ...(o.from ? { from: o.from } : {}),
      ...(o.replyTo ? { replyTo: o.replyTo } : {}),
      ...(o.inReplyTo ? { inReplyTo: o.inReplyTo } : {}),
      ...(o.idempotencyKey ? { idempotencyKey: o.idempotencyKey } : {}),
    });
    if (o.json) io.out(jsonLine(r));
    else if (r.status === 'sent') io.out(`sent via ${r.route ?? '?'} (Message-ID ${r.messageId})\n`);
    else if (r.status === 'queued')
      io.out(
        `queued (Message-ID ${r.messageId}): no route could deliver now; the daemon retries${r.error ? ` — ${r.error}` : ''}\n`,
      );
    else io.err(`failed (Message-ID ${r.messageId}): ${r.error ?? 'rejected'}\n`);
    return r.status === 'failed' ? 1 : 0;
  } finally {
    await warden.close();
  }
}

export async function runMailList(
  o: { config?: string; mailbox: string; since?: string; limit?: string; query?: string; json?: boolean },
  io: Io,
): Promise<number> {
  let since: Date | undefined;
  if (o.since) {
    const ago = parseDuration(o.since);
    since = ago !== null && !/^\d{4}-/.test(o.since) ? new Date(io.now() - ago) : new Date(o.since);
    if (Number.isNaN(since.getTime()))
      throw new UsageError('--since takes a duration (24h, 7d) or a date (2026-11-01)');
  }
  const limit = o.limit ? Number(o.limit) : 20;
  if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw new UsageError('--limit must be an integer 1..500');
  const warden = await openWarden(wardenOptions(o, io));
  try {
    const r = await warden
      .mailbox(o.mailbox)
      .list({ limit, ...(since ? { since } : {}), ...(o.query ? { query: o.query } : {}) });
    if (o.json) io.out(jsonLine(r));
    else {
      if (r.fellBackFrom?.length) io.err(`(read via ${r.route}; unavailable: ${r.fellBackFrom.join(', ')})\n`);
      io.out(table([['DATE', 'FROM', 'SUBJECT'], ...r.messages.map((m) => [m.date, m.from, m.subject])]));
    }
    return 0;
  } finally {
    await warden.close();
  }
}
