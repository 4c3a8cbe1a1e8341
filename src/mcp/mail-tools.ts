/**
 * MCP mail tools: `send_email` (the send-mail action, under the MCP send policy: recipient
 * count, allow-list, rate) and `read_email` (the read-mail action). Each says which route
 * carried the message and why a fallback was used.
 */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { readMail } from '../actions/read-mail.js';
import { sendMail } from '../actions/send-mail.js';
import { parseDuration } from '../core/duration.js';
import { TokenwardenError } from '../core/errors.js';
import { needsHuman } from '../core/types.js';
import { bareAddress, MAX_RECIPIENTS, normaliseMessage, type MailMessage } from '../mail/message.js';
import type { ListQuery } from '../mail/routes/types.js';
import type { McpContext } from './context.js';
import { recipientsNotAllowed } from './send-policy.js';

/** `send_email`: send through the mailbox's durable outbox and say which route carried it. */
export function registerSendTool(server: McpServer, ctx: McpContext): void {
  const mailDeps = { mailboxes: ctx.warden.config.mailboxes, mail: () => ctx.warden.mail() };
  const { run, warden, pickMailbox, mailRoutes, sendLimiter, sendRate, allowedRecipients } = ctx;
  server.registerTool(
    'send_email',
    {
      title: 'Send email',
      description:
        "Send mail through a mailbox's routes (e.g. Gmail API, then SMTP with an App Password) via the durable outbox. " +
        'Says which route carried it and why a fallback was used. A queued message is retried automatically: do not send it again. ' +
        `Limits: at most ${MAX_RECIPIENTS} recipients (to, cc, bcc together) per message; ${sendRate.count} message(s) per mailbox per ${Math.round(sendRate.windowMs / 1000)} s` +
        (allowedRecipients ? `; only to these recipients: ${allowedRecipients.join(', ')}` : '') +
        '. A refusal says why and when to try again.',
      inputSchema: {
        mailbox: z.string().optional().describe('Mailbox name (optional when only one is configured).'),
        to: z.union([z.string(), z.array(z.string())]).describe('Recipient address(es).'),
        subject: z.string(),
        text: z.string().optional().describe('Plain-text body.'),
        html: z.string().optional().describe('HTML body.'),
        cc: z.union([z.string(), z.array(z.string())]).optional(),
        bcc: z.union([z.string(), z.array(z.string())]).optional(),
        in_reply_to: z.string().optional().describe('Message-ID this replies to (threads the reply).'),
        idempotency_key: z.string().optional().describe('Same key = same message: a retry never sends a second copy.'),
      },
      annotations: { destructiveHint: false, idempotentHint: false, openWorldHint: true },
    },
    (a) =>
      run(async () => {
        const mailbox = pickMailbox(a.mailbox);
        const msg: MailMessage = { to: a.to, subject: a.subject };
        if (a.text !== undefined) msg.text = a.text;
        if (a.html !== undefined) msg.html = a.html;
        if (a.cc !== undefined) msg.cc = a.cc;
        if (a.bcc !== undefined) msg.bcc = a.bcc;
        if (a.in_reply_to !== undefined) msg.inReplyTo = a.in_reply_to;
        if (a.idempotency_key !== undefined) msg.idempotencyKey = a.idempotency_key;
        // Recipients are checked (count, allow-list) and the message counted before it is queued.
        const n = normaliseMessage(msg, warden.config.mailboxes[mailbox]?.address ?? '');
        if (allowedRecipients) {
          const refused = recipientsNotAllowed(allowedRecipients, [...n.to, ...n.cc, ...n.bcc].map(bareAddress));
          if (refused.length)
            throw new TokenwardenError(
              'TW_BAD_INPUT',
              `Not sent: ${refused.slice(0, 10).join(', ')}${refused.length > 10 ? ` and ${refused.length - 10} more` : ''} ` +
                `${refused.length === 1 ? 'is' : 'are'} not among the recipients allowed through MCP (mcp.allowed_recipients: ${allowedRecipients.join(', ')}). Nothing was queued.`,
            );
        }
        sendLimiter.take(mailbox);
        const r = await sendMail(mailDeps, mailbox, msg);
        const routes = (await mailRoutes(new Map((await warden.status()).map((s) => [s.name, s.state])))).filter(
          (x) => x.mailbox === mailbox && x.direction === 'send',
        );
        const used = routes.find((x) => x.route === r.route);
        const skipped = used ? routes.slice(0, routes.indexOf(used)) : [];
        const why = skipped.map((x) => `${x.route}: ${x.why ?? 'failed'}`).join('; ');
        let text: string;
        if (r.status === 'sent')
          text =
            `Sent from mailbox ${mailbox} through ${r.route ?? 'a route'}${used ? (used.auth === 'app password' ? ' (App Password)' : ` (OAuth via ${used.connection ?? '?'})`) : ''}` +
            `${skipped.length ? `, as a fallback because ${why}` : ''}. Message-ID ${r.messageId}.`;
        else if (r.status === 'queued')
          text = `Queued in mailbox ${mailbox}'s durable outbox (Message-ID ${r.messageId}): no route could deliver it right now${r.error ? ` (${r.error})` : ''}. It is retried automatically by the daemon (tokenwarden serve); do not send it again.`;
        else
          text = `Not sent from mailbox ${mailbox}: ${r.error ?? 'every route refused it'}. Message-ID ${r.messageId}.`;
        return {
          text,
          isError: r.status === 'failed',
          structured: {
            mailbox,
            status: r.status,
            route: r.route ?? null,
            fallback_from: skipped.map((x) => x.route),
            message_id: r.messageId,
            outbox_id: r.id,
            error: r.error ?? null,
          },
        };
      }),
  );
}

/** `read_email`: list recent messages, falling back across read routes. */
export function registerReadTool(server: McpServer, ctx: McpContext): void {
  const mailDeps = { mailboxes: ctx.warden.config.mailboxes, mail: () => ctx.warden.mail() };
  const { run, warden, pickMailbox, mailRoutes, now, facts } = ctx;
  server.registerTool(
    'read_email',
    {
      title: 'Read email',
      description:
        'List recent messages of a mailbox (newest first), falling back across its read routes. Says which route answered.',
      inputSchema: {
        mailbox: z.string().optional().describe('Mailbox name (optional when only one is configured).'),
        since: z.string().optional().describe('A duration like 24h or 7d, or an ISO date.'),
        query: z.string().optional().describe('Provider search text (Gmail q, IMAP TEXT).'),
        limit: z.number().int().min(1).max(100).optional().describe('Default 20.'),
      },
      annotations: { readOnlyHint: true, openWorldHint: true },
    },
    (a) =>
      run(async () => {
        const mailbox = pickMailbox(a.mailbox);
        const q: ListQuery = { limit: a.limit ?? 20 };
        if (a.query) q.query = a.query;
        if (a.since) {
          const d = parseDuration(a.since);
          const t = d !== null ? now() - d : Date.parse(a.since);
          if (Number.isNaN(t))
            throw new TokenwardenError(
              'TW_BAD_INPUT',
              `since: expected a duration like 24h or an ISO date, got "${a.since}".`,
            );
          q.since = new Date(t);
        }
        let r;
        try {
          r = await readMail(mailDeps, mailbox, q);
        } catch (err) {
          // Every read route is down: if a connection that needs its human is why, say so in words.
          const all = await warden.status();
          const routes = (await mailRoutes(new Map(all.map((s) => [s.name, s.state])))).filter(
            (x) => x.mailbox === mailbox && x.direction === 'read',
          );
          const dead = routes.find(
            (x) => x.connection && needsHuman(all.find((s) => s.name === x.connection)?.state ?? 'healthy'),
          );
          if (!dead?.connection || routes.some((x) => x.usable)) throw err;
          const [f] = await facts(dead.connection);
          return {
            text: `Cannot read mailbox ${mailbox} right now: no read route works. ${f?.sentence ?? ''}`,
            isError: true,
            structured: { mailbox, routes, connection: f ?? null },
          };
        }
        const list = r.messages
          .map((m) => `- ${m.date.slice(0, 16).replace('T', ' ')} from ${m.from}: ${m.subject}`)
          .join('\n');
        const head = `${r.messages.length} message${r.messages.length === 1 ? '' : 's'} in mailbox ${mailbox}, read through ${r.route}${r.fellBackFrom?.length ? ` (fallback: ${r.fellBackFrom.join(', ')} unavailable)` : ''}.`;
        return {
          text: list ? `${head}\n${list}` : head,
          structured: {
            mailbox,
            route: r.route,
            fallback_from: r.fellBackFrom ?? [],
            messages: r.messages.map((m) => ({
              id: m.id,
              message_id: m.messageId ?? null,
              thread_id: m.threadId ?? null,
              from: m.from,
              to: m.to,
              subject: m.subject,
              date: m.date,
              snippet: m.snippet ?? null,
            })),
          },
        };
      }),
  );
}
