/**
 * The one HTTP POST all one-way channels use: a timeout, no redirects, and errors that name
 * the channel and the status but never the URL (webhook and Slack URLs are secrets).
 */
import { parseRetryAfter } from '../core/http-policy.js';
import { ChannelError } from './errors.js';

export const DEFAULT_SEND_TIMEOUT_MS = 10_000;

export async function postChannel(
  channel: string,
  fetchFn: typeof fetch,
  url: string,
  init: { headers: Record<string, string>; body: string; timeoutMs?: number | undefined },
): Promise<Response> {
  const timeoutMs = init.timeoutMs ?? DEFAULT_SEND_TIMEOUT_MS;
  let res: Response;
  try {
    res = await fetchFn(url, {
      method: 'POST',
      headers: init.headers,
      body: init.body,
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
    throw new ChannelError(channel, timedOut ? `no answer within ${timeoutMs} ms` : 'network error while sending', {
      transient: true,
      cause: err,
    });
  }
  if (res.status < 200 || res.status > 299) {
    // Drain the body so the connection can be reused; its content may echo secrets, so drop it.
    await res.body?.cancel().catch(() => undefined);
    // Seconds or an HTTP-date (RFC 9110 §10.2.3); 0 or a past date means no wait to honour.
    const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'), Date.now());
    throw new ChannelError(channel, `HTTP ${res.status} from the receiving server`, {
      status: res.status,
      retryAfterMs: retryAfterMs ? retryAfterMs : undefined,
    });
  }
  return res;
}

/**
 * Is the receiving server there? A HEAD request (nothing is posted): any HTTP answer counts,
 * a network error or no answer in time does not. The URL is never named (it may be a secret).
 */
export async function checkReachable(
  channel: string,
  fetchFn: typeof fetch,
  url: string,
  timeoutMs = DEFAULT_SEND_TIMEOUT_MS,
): Promise<void> {
  try {
    const res = await fetchFn(url, { method: 'HEAD', redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
    await res.body?.cancel().catch(() => undefined);
  } catch (err) {
    const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
    throw new ChannelError(
      channel,
      timedOut ? `the receiving server did not answer within ${timeoutMs} ms` : 'cannot reach the receiving server',
      { transient: true, cause: err },
    );
  }
}
