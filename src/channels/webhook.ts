/**
 * Generic webhook: one JSON POST per message. With a `secret`, the raw body is signed so the
 * receiver can verify it came from this warden:
 *
 *   X-Tokenwarden-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>
 *   X-Tokenwarden-Timestamp: <unix seconds>  (the body's `sentAt` is covered by the signature,
 *                                             so receivers can reject replays by age)
 */
import { createHmac } from 'node:crypto';
import type { ChannelConfig } from '../config/schema.js';
import { checkReachable, postChannel } from './http.js';
import type { Channel, ChannelDeps, ChannelMessage } from './types.js';
import { outboundFetch } from '../core/proxy.js';

type WebhookConfig = Extract<ChannelConfig, { type: 'webhook' }>;

/** The JSON a webhook receives: every field present, `null` when absent. */
export interface WebhookPayload {
  kind: ChannelMessage['kind'];
  connection: string;
  title: string;
  /** What to do now. */
  text: string;
  /** What happened, in one sentence. */
  cause: string | null;
  /** What to change so it does not happen again. */
  fix: string | null;
  /** What still works meanwhile. */
  fallbacks: string[];
  url: string | null;
  userCode: string | null;
  expiresAt: number | null;
  flowId: string | null;
  pasteHint: string | null;
  /** Epoch ms when the warden sent it. */
  sentAt: number;
}

export const SIGNATURE_HEADER = 'X-Tokenwarden-Signature';
export const TIMESTAMP_HEADER = 'X-Tokenwarden-Timestamp';

/** `sha256=<hex>` over the exact bytes of the body. */
export function signWebhookBody(secret: string, rawBody: string): string {
  return `sha256=${createHmac('sha256', secret).update(rawBody, 'utf8').digest('hex')}`;
}

export function createWebhookChannel(name: string, cfg: WebhookConfig, deps: ChannelDeps): Channel {
  const fetchFn = deps.fetch ?? outboundFetch;
  return {
    name,
    type: 'webhook',
    twoWay: false,
    check: () => checkReachable(name, fetchFn, cfg.url, deps.sendTimeoutMs),
    async send(msg: ChannelMessage) {
      const now = deps.clock.now();
      const payload: WebhookPayload = {
        kind: msg.kind,
        connection: msg.connection,
        title: msg.title,
        text: msg.text,
        cause: msg.cause ?? null,
        fix: msg.fix ?? null,
        fallbacks: msg.fallbacks ?? [],
        url: msg.url ?? null,
        userCode: msg.userCode ?? null,
        expiresAt: msg.expiresAt ?? null,
        flowId: msg.flowId ?? null,
        pasteHint: msg.pasteHint ?? null,
        sentAt: now,
      };
      const body = JSON.stringify(payload);
      const headers: Record<string, string> = {
        'Content-Type': 'application/json',
        'User-Agent': 'tokenwarden',
        [TIMESTAMP_HEADER]: String(Math.floor(now / 1000)),
      };
      if (cfg.secret) headers[SIGNATURE_HEADER] = signWebhookBody(cfg.secret, body);
      await postChannel(name, fetchFn, cfg.url, { headers, body, timeoutMs: deps.sendTimeoutMs });
      return {};
    },
  };
}
