import { createHmac, timingSafeEqual } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createChannel, type ChannelError, type WebhookPayload } from '../../src/channels/index.js';
import { FakeClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { startHttpSink, type HttpSink } from '../peers/http-sink.js';

let sink: HttpSink;
beforeEach(async () => {
  sink = await startHttpSink();
});
afterEach(async () => {
  await sink.stop();
});

const clock = new FakeClock(Date.UTC(2026, 0, 1, 8, 0, 0));
const deps = { clock, logger: silentLogger };

/** What a receiver does: recompute the HMAC over the raw body and compare in constant time. */
function verify(secret: string, rawBody: string, header: string | undefined): boolean {
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(rawBody).digest('hex')}`);
  const got = Buffer.from(header ?? '');
  return got.length === expected.length && timingSafeEqual(got, expected);
}

describe('webhook channel', () => {
  it('posts the full JSON payload with nulls for absent fields', async () => {
    const ch = createChannel('hook', { type: 'webhook', url: `${sink.url}/in` }, deps);
    await ch.send({ kind: 'probe_failed', connection: 'graph', title: 'Probe failed', text: '/me answered 401' });
    const r = sink.requests[0];
    expect(r?.headers['content-type']).toBe('application/json');
    expect(r?.json<WebhookPayload>()).toEqual({
      kind: 'probe_failed',
      connection: 'graph',
      title: 'Probe failed',
      text: '/me answered 401',
      cause: null,
      fix: null,
      fallbacks: [],
      url: null,
      userCode: null,
      expiresAt: null,
      flowId: null,
      pasteHint: null,
      sentAt: clock.now(),
    });
    expect(r?.headers['x-tokenwarden-signature']).toBeUndefined();
    expect(r?.headers['x-tokenwarden-timestamp']).toBe(String(clock.now() / 1000));
  });

  it('signs the raw body with HMAC-SHA256 so the receiver can verify it', async () => {
    const secret = 'whsec_0123456789';
    const ch = createChannel('hook', { type: 'webhook', url: `${sink.url}/in`, secret }, deps);
    await ch.send({
      kind: 'reauth_request',
      connection: 'gmail',
      title: 'Re-authorize gmail',
      text: 'Käse & <tags>',
      url: 'https://accounts.google.com/auth?x=1',
      userCode: 'ABCD-EFGH',
      expiresAt: clock.now() + 600_000,
      flowId: 'flow_1',
      pasteHint: 'tokenwarden complete <url>',
    });
    const r = sink.requests[0];
    const sig = r?.headers['x-tokenwarden-signature'] as string | undefined;
    expect(sig).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(verify(secret, r?.body ?? '', sig)).toBe(true);
    expect(verify('wrong-secret', r?.body ?? '', sig)).toBe(false);
    expect(verify(secret, (r?.body ?? '').replace('gmail', 'gmai1'), sig)).toBe(false);
    expect(r?.json<WebhookPayload>()).toMatchObject({ userCode: 'ABCD-EFGH', flowId: 'flow_1', text: 'Käse & <tags>' });
  });

  it('a refusing receiver → ChannelError with the status, without the URL', async () => {
    sink.setStatus(500);
    const ch = createChannel('hook', { type: 'webhook', url: `${sink.url}/hooks/T0K3N`, secret: 's' }, deps);
    const err = (await ch
      .send({ kind: 'info', connection: 'c', title: 't', text: 'x' })
      .catch((e: unknown) => e)) as ChannelError;
    expect(err.message).toBe('channel hook: HTTP 500 from the receiving server');
    expect(err.transient).toBe(true);
  });
});
