/**
 * What an agent may do with `send_email`: at most `mcp.send_rate` messages per mailbox (a
 * sliding window), and — when `mcp.allowed_recipients` is set — only to those addresses and
 * domains. The recipient cap itself (MAX_RECIPIENTS in mail/message) is the one every face
 * shares. The config values are parsed in src/config/send-rate.ts.
 */
import { TokenwardenError } from '../core/errors.js';

export { ALLOWED_RECIPIENT_RE, parseSendRate, type SendRate } from '../config/send-rate.js';
import type { SendRate } from '../config/send-rate.js';

export function recipientsNotAllowed(allowed: readonly string[], recipients: readonly string[]): string[] {
  const exact = new Set(allowed.filter((a) => !a.startsWith('@')).map((a) => a.toLowerCase()));
  const domains = new Set(allowed.filter((a) => a.startsWith('@')).map((a) => a.slice(1).toLowerCase()));
  const refused: string[] = [];
  for (const r of recipients) {
    const addr = r.toLowerCase();
    const domain = addr.slice(addr.lastIndexOf('@') + 1);
    if (!exact.has(addr) && !domains.has(domain) && !refused.includes(addr)) refused.push(addr);
  }
  return refused;
}

/** Messages an agent sent per mailbox in the last window; refuses the one over the rate. */
export class SendLimiter {
  private readonly sent = new Map<string, number[]>();

  constructor(
    private readonly rate: SendRate,
    private readonly now: () => number,
  ) {}

  /** Count one message for `mailbox`, or throw TW_RATE_LIMITED saying when the next is allowed. */
  take(mailbox: string): void {
    const t = this.now();
    const recent = (this.sent.get(mailbox) ?? []).filter((at) => at > t - this.rate.windowMs);
    if (recent.length >= this.rate.count) {
      const waitS = Math.max(1, Math.ceil(((recent[0] ?? t) + this.rate.windowMs - t) / 1000));
      this.sent.set(mailbox, recent);
      throw new TokenwardenError(
        'TW_RATE_LIMITED',
        this.rate.count === 0
          ? `Sending mail through MCP is switched off (mcp.send_rate is 0); ask the human to send it.`
          : `send_email is limited to ${this.rate.count} message${this.rate.count === 1 ? '' : 's'} per ${describeWindow(this.rate.windowMs)} for mailbox ${mailbox} (mcp.send_rate); ` +
              `the next one is allowed in ${waitS} s. Do not retry before then.`,
      );
    }
    recent.push(t);
    this.sent.set(mailbox, recent);
  }
}

function describeWindow(ms: number): string {
  for (const [unit, size] of [
    ['day', 86_400_000],
    ['hour', 3_600_000],
    ['minute', 60_000],
    ['second', 1_000],
  ] as const)
    if (ms % size === 0) return ms === size ? unit : `${ms / size} ${unit}s`;
  return `${ms} ms`;
}
