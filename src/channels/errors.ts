/**
 * One error class for a channel that failed to deliver, classified by how the caller must
 * react: `TW_PROVIDER_UNAVAILABLE` (network, timeout, a transient status such as 5xx or 429:
 * try again or escalate) or
 * `TW_CONFIG` (4xx: wrong URL, token or chat — a human must fix the config).
 *
 * Messages name the channel and the status, never the URL (webhook URLs are secrets) or a token.
 */
import { TokenwardenError } from '../core/errors.js';
import { isTransientStatus } from '../core/http-policy.js';

export class ChannelError extends TokenwardenError {
  readonly channel: string;
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;
  constructor(
    channel: string,
    message: string,
    opts: { status?: number | undefined; retryAfterMs?: number | undefined; transient?: boolean; cause?: unknown } = {},
  ) {
    const transient = opts.transient ?? (opts.status === undefined || isTransientStatus(opts.status));
    super(transient ? 'TW_PROVIDER_UNAVAILABLE' : 'TW_CONFIG', `channel ${channel}: ${message}`, { cause: opts.cause });
    this.channel = channel;
    this.status = opts.status;
    this.retryAfterMs = opts.retryAfterMs;
  }
  get transient(): boolean {
    return this.code === 'TW_PROVIDER_UNAVAILABLE';
  }
}
