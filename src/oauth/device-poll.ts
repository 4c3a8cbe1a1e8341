/**
 * RFC 8628 §3.4–3.5 polling, on the injected clock so tests run in milliseconds:
 * - `authorization_pending` (Google: HTTP 428) → keep polling at `interval`
 * - `slow_down` → interval += 5 s, cumulative (GitHub also sends the new `interval`)
 * - `access_denied`, `authorization_declined` (Microsoft), `expired_token`,
 *   `bad_verification_code` … → ProviderError, stop
 * - transient failures (timeouts, 5xx) → keep polling with exponential backoff (§3.5)
 * - the device code's own expiry → ProviderError `expired_token` without asking again
 */
import type { Clock } from '../core/clock.js';
import { ProviderError, TransientError } from '../core/errors.js';
import type { TokenSet } from '../core/types.js';
import type { DeviceAuthorization } from './types.js';

const PENDING = new Set(['authorization_pending']);
const MAX_BACKOFF_MS = 60_000;

export async function pollDevice(
  device: DeviceAuthorization,
  opts: { clock: Clock; signal?: AbortSignal; request: () => Promise<TokenSet> },
): Promise<TokenSet> {
  const { clock, signal } = opts;
  let intervalMs = Math.max(0, device.interval * 1000);
  let backoffMs = 0;
  for (;;) {
    signal?.throwIfAborted();
    const wait = intervalMs + backoffMs;
    if (clock.now() + wait >= device.expiresAt) {
      throw new ProviderError('expired_token', { description: 'the device code expired before it was approved' });
    }
    await clock.sleep(wait, signal);
    try {
      return await opts.request();
    } catch (e) {
      signal?.throwIfAborted();
      if (e instanceof TransientError) {
        backoffMs = Math.min(MAX_BACKOFF_MS, Math.max(1000, backoffMs * 2));
        continue;
      }
      if (!(e instanceof ProviderError)) throw e;
      backoffMs = 0;
      if (PENDING.has(e.error)) continue;
      if (e.error === 'slow_down') {
        intervalMs += 5000;
        continue;
      }
      throw e;
    }
  }
}
