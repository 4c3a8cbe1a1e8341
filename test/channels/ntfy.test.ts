import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createChannel, type ChannelError } from '../../src/channels/index.js';
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

describe('ntfy channel', () => {
  it('posts the text to the topic with Title, Click, Tags, Priority and bearer auth', async () => {
    const ch = createChannel('phone', { type: 'ntfy', url: `${sink.url}/tw-topic`, token: 'tk_secret123' }, deps);
    expect(ch.twoWay).toBe(false);
    await ch.send({
      kind: 'reauth_request',
      connection: 'gmail',
      title: 'Re-authorize gmail',
      text: 'The refresh token expired.',
      url: 'https://accounts.google.com/o/oauth2/v2/auth?client_id=a&state=s',
      expiresAt: clock.now() + 10 * 60_000,
      pasteHint: 'https://agent.example.com/flows/abc',
    });
    const [r] = sink.requests;
    expect(r?.method).toBe('POST');
    expect(r?.path).toBe('/tw-topic');
    expect(r?.headers['title']).toBe('Re-authorize gmail');
    expect(r?.headers['click']).toBe('https://accounts.google.com/o/oauth2/v2/auth?client_id=a&state=s');
    expect(r?.headers['tags']).toBe('key,warning,gmail');
    expect(r?.headers['priority']).toBe('5');
    expect(r?.headers['authorization']).toBe('Bearer tk_secret123');
    expect(r?.body).toContain('The refresh token expired.');
    expect(r?.body).toContain('Expires in 10 minutes (08:10 UTC).');
    expect(r?.body).toContain('https://agent.example.com/flows/abc');
  });

  it('sends no Authorization header without a token, lower priority for good news, RFC 2047 for non-ASCII titles', async () => {
    const ch = createChannel('phone', { type: 'ntfy', url: `${sink.url}/t` }, deps);
    await ch.send({ kind: 'recovered', connection: 'gmail', title: 'gmail is healthy again ✅ Müller', text: 'ok' });
    const [r] = sink.requests;
    expect(r?.headers['authorization']).toBeUndefined();
    expect(r?.headers['click']).toBeUndefined();
    expect(r?.headers['priority']).toBe('3');
    const title = String(r?.headers['title']);
    const m = /^=\?UTF-8\?B\?([A-Za-z0-9+/=]+)\?=$/.exec(title);
    expect(Buffer.from(m?.[1] ?? '', 'base64').toString('utf8')).toBe('gmail is healthy again ✅ Müller');
  });

  it('non-2xx → ChannelError naming the channel and status, not the URL or token', async () => {
    sink.setStatus(403, 'forbidden: tk_secret123');
    const ch = createChannel('phone', { type: 'ntfy', url: `${sink.url}/secret-topic`, token: 'tk_secret123' }, deps);
    const err = (await ch
      .send({ kind: 'info', connection: 'c', title: 't', text: 'x' })
      .catch((e: unknown) => e)) as ChannelError;
    expect(err.message).toBe('channel phone: HTTP 403 from the receiving server');
    expect(err.status).toBe(403);
    expect(err.code).toBe('TW_CONFIG');
    expect(err.message).not.toMatch(/secret|127\.0\.0\.1/);
  });

  it('5xx is transient and carries Retry-After', async () => {
    sink.setStatus(503, '', { 'retry-after': '30' });
    const ch = createChannel('phone', { type: 'ntfy', url: `${sink.url}/t` }, deps);
    const err = (await ch
      .send({ kind: 'info', connection: 'c', title: 't', text: 'x' })
      .catch((e: unknown) => e)) as ChannelError;
    expect(err.code).toBe('TW_PROVIDER_UNAVAILABLE');
    expect(err.retryAfterMs).toBe(30_000);
  });

  it('429 with Retry-After as an HTTP-date is transient and waits until that date', async () => {
    const at = new Date(Date.now() + 120_000).toUTCString(); // IMF-fixdate, whole seconds
    sink.setStatus(429, '', { 'retry-after': at });
    const ch = createChannel('phone', { type: 'ntfy', url: `${sink.url}/t` }, deps);
    const err = (await ch
      .send({ kind: 'info', connection: 'c', title: 't', text: 'x' })
      .catch((e: unknown) => e)) as ChannelError;
    expect(err.code).toBe('TW_PROVIDER_UNAVAILABLE');
    expect(err.retryAfterMs).toBeGreaterThan(110_000);
    expect(err.retryAfterMs).toBeLessThanOrEqual(120_000);
  });

  it('gives up after the send timeout when the server never answers', async () => {
    sink.setHang(true);
    const ch = createChannel('phone', { type: 'ntfy', url: `${sink.url}/t` }, { ...deps, sendTimeoutMs: 150 });
    const err = (await ch
      .send({ kind: 'info', connection: 'c', title: 't', text: 'x' })
      .catch((e: unknown) => e)) as ChannelError;
    expect(err.message).toBe('channel phone: no answer within 150 ms');
    expect(err.code).toBe('TW_PROVIDER_UNAVAILABLE');
  });
});
