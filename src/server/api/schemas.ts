/** Bodies the JSON API accepts (zod). */
import { z } from 'zod';
import { MAX_RECIPIENTS } from '../../mail/message.js';

const name = z.string().min(1).max(64);

export const reauthBody = z.strictObject({
  reason: z.string().min(1).max(200).optional(),
  via: z.array(name).max(20).optional(),
  fresh: z.boolean().optional(),
});

export const completeBody = z.strictObject({
  /** The final redirect URL the human's browser reached, or a bare authorization code. */
  input: z.string().min(1).max(8192),
});

// The total over to, cc and bcc is checked with the message (MAX_RECIPIENTS), as for every face.
const addresses = z.union([
  z.string().min(1).max(2000),
  z.array(z.string().min(1).max(500)).min(1).max(MAX_RECIPIENTS),
]);

export const mailSendBody = z.strictObject({
  from: z.string().min(1).max(500).optional(),
  to: addresses,
  cc: addresses.optional(),
  bcc: addresses.optional(),
  replyTo: addresses.optional(),
  subject: z.string().max(2000),
  text: z.string().optional(),
  html: z.string().optional(),
  attachments: z
    .array(
      z.strictObject({
        filename: z.string().min(1).max(500),
        /** Base64. */
        content: z.string(),
        contentType: z.string().max(200).optional(),
      }),
    )
    .max(100)
    .optional(),
  headers: z.record(z.string(), z.string()).optional(),
  inReplyTo: z.string().max(2000).optional(),
  references: z.union([z.string().max(10_000), z.array(z.string().max(2000))]).optional(),
  idempotencyKey: z.string().min(1).max(200).optional(),
});

export const eventsQuery = z.object({
  since: z.coerce.number().int().min(0).optional(),
  connection: name.optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
});
