/**
 * Send mail from a configured mailbox through its durable outbox (committed, sealed, before this
 * answers; route failover inside): the library's `mailbox(name).send`, `tokenwarden mail send`,
 * the HTTP API, MCP's `send_email` and the email channel.
 */
import { NotFoundError } from '../core/errors.js';
import type { MailMessage, MailService, SendResult } from '../mail/index.js';

export interface MailDeps {
  /** Configured mailboxes by name. */
  mailboxes: Readonly<Record<string, unknown>>;
  /** The mail service, created on first use. */
  mail(): Promise<Pick<MailService, 'mailbox'>>;
}

/** The error for a mailbox name that is not configured (lists the configured ones). */
export function unknownMailbox(mailboxes: Readonly<Record<string, unknown>>, name: string): NotFoundError {
  return new NotFoundError(`No mailbox named "${name}" (configured: ${Object.keys(mailboxes).join(', ') || 'none'})`);
}

export function checkMailbox(d: Pick<MailDeps, 'mailboxes'>, name: string): string {
  if (!d.mailboxes[name]) throw unknownMailbox(d.mailboxes, name);
  return name;
}

export async function sendMail(d: MailDeps, mailbox: string, msg: MailMessage): Promise<SendResult> {
  checkMailbox(d, mailbox);
  return (await d.mail()).mailbox(mailbox).send(msg);
}
