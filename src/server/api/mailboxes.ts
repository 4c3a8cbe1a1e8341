/**
 * `POST /mailboxes/:name/send`: enqueue in the durable outbox and try to deliver at once
 * (200 sent, 202 queued for retry, 502 refused). 404 when the server runs without mail.
 */
import type { Hono } from 'hono';
import { NotFoundError } from '../../core/errors.js';
import type { MailMessage } from '../../mail/index.js';
import type { ServerContext } from '../context.js';
import { readBody } from './body.js';
import { mailSendBody } from './schemas.js';

export function mountMailboxes(api: Hono, ctx: ServerContext): void {
  api.get('/mailboxes', async (c) => {
    if (!ctx.mail) return c.json({ mailboxes: [] });
    return c.json({ mailboxes: await ctx.mail.status() });
  });

  api.post('/mailboxes/:name/send', async (c) => {
    const name = c.req.param('name');
    const mail = ctx.mail;
    if (!mail)
      throw new NotFoundError(
        'Mail is not enabled on this server: no mailboxes are configured (or the mail service is not running).',
      );
    if (!mail.mailboxes().includes(name))
      throw new NotFoundError(`No mailbox named "${name}" (configured: ${mail.mailboxes().join(', ') || 'none'}).`);
    const body = await readBody(c, mailSendBody);
    const idem = c.req.header('idempotency-key');
    const msg = dropUndefined({
      ...body,
      ...(idem && !body.idempotencyKey ? { idempotencyKey: idem } : {}),
    }) as MailMessage;
    const r = await mail.mailbox(name).send(msg);
    const out = { id: r.id, message_id: r.messageId, status: r.status, route: r.route ?? null };
    if (r.status === 'failed')
      return c.json({ error: { code: 'TW_MAIL', message: r.error ?? 'Delivery failed.', ...out } }, 502);
    return c.json(out, r.status === 'sent' ? 200 : 202);
  });
}

/** zod gives `x?: T | undefined`; the mail API's optional fields are plain `x?: T`. */
function dropUndefined<T extends Record<string, unknown>>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
