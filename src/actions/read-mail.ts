/**
 * Read mail from a configured mailbox (read routes in order, falling back while one is down):
 * the library's `mailbox(name).list`, `tokenwarden mail list` and MCP's `read_email`.
 */
import type { ListResult } from '../mail/index.js';
import type { ListQuery } from '../mail/routes/types.js';
import { checkMailbox, type MailDeps } from './send-mail.js';

export async function readMail(d: MailDeps, mailbox: string, q?: ListQuery): Promise<ListResult> {
  checkMailbox(d, mailbox);
  return (await d.mail()).mailbox(mailbox).list(q);
}
