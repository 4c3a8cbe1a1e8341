import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { isLoopback, listen, parseListen } from '../../src/server/listen.js';

const app = new Hono().get('/healthz', (c) => c.json({ ok: true }));
const base = { allow_insecure_public: false } as const;

describe('listen', () => {
  it.each([
    ['127.0.0.1:7465', { host: '127.0.0.1', port: 7465 }],
    ['[::1]:8080', { host: '::1', port: 8080 }],
    ['0.0.0.0:80', { host: '0.0.0.0', port: 80 }],
  ])('parses %s', (s, want) => expect(parseListen(s)).toEqual(want));

  it.each([
    ['127.0.0.1', true],
    ['127.8.9.10', true],
    ['::1', true],
    ['localhost', true],
    ['0.0.0.0', false],
    ['192.168.1.5', false],
  ])('%s is loopback: %s', (h, want) => expect(isLoopback(h)).toBe(want));

  it('refuses a public plain-HTTP bind unless allow_insecure_public is set', async () => {
    await expect(listen(app, { ...base, listen: '0.0.0.0:0' })).rejects.toThrow(
      /server\.listen: refusing to serve plain HTTP on 0\.0\.0\.0/,
    );
    const s = await listen(app, { ...base, listen: '0.0.0.0:0', allow_insecure_public: true });
    try {
      expect((await fetch(`http://127.0.0.1:${s.port}/healthz`)).status).toBe(200);
    } finally {
      await s.close();
    }
  });

  it('binds loopback on the asked port and reports the URL', async () => {
    const s = await listen(app, { ...base, listen: '127.0.0.1:0' });
    try {
      expect(s.url).toBe(`http://127.0.0.1:${s.port}`);
      expect(await (await fetch(`${s.url}/healthz`)).json()).toEqual({ ok: true });
    } finally {
      await s.close();
    }
  });
});
