import { randomBytes } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import { KeyError, StoreError } from '../core/errors.js';
import { createSealer, isSealed } from './seal.js';

const key = randomBytes(32);
const sealer = createSealer(key);
const SECRET = 'ya29.super-secret-refresh-token';

describe('createSealer', () => {
  it.each([
    ['empty', ''],
    ['ascii', SECRET],
    ['unicode', 'pässwörd 🔑 密码'],
    ['long', 'x'.repeat(100_000)],
  ])('round-trips %s plaintext', (_label, plaintext) => {
    const sealed = sealer.seal(plaintext, 'connections:gmail:refresh_token');
    expect(isSealed(sealed)).toBe(true);
    expect(sealed.startsWith('v1.')).toBe(true);
    expect(sealer.open(sealed, 'connections:gmail:refresh_token')).toBe(plaintext);
  });

  it('never contains the plaintext and uses a fresh IV per value', () => {
    const a = sealer.seal(SECRET, 'aad');
    const b = sealer.seal(SECRET, 'aad');
    expect(a).not.toBe(b);
    for (const s of [a, b]) {
      expect(s).not.toContain(SECRET);
      expect(Buffer.from(s.slice(3), 'base64url').includes(Buffer.from(SECRET))).toBe(false);
    }
  });

  it.each([
    ['0 bytes', Buffer.alloc(0)],
    ['16 bytes', randomBytes(16)],
    ['31 bytes', randomBytes(31)],
    ['33 bytes', randomBytes(33)],
  ])('rejects a key of %s', (_label, bad) => {
    expect(() => createSealer(bad)).toThrow(KeyError);
    expect(() => createSealer(bad)).toThrow(/must be 32 bytes/);
  });

  it('keeps its own copy of the key', () => {
    const k = randomBytes(32);
    const s = createSealer(k);
    const sealed = s.seal(SECRET, 'aad');
    k.fill(0);
    expect(s.open(sealed, 'aad')).toBe(SECRET);
  });

  const sealed = sealer.seal(SECRET, 'connections:gmail:refresh_token');
  const raw = Buffer.from(sealed.slice(3), 'base64url');
  const flipped = Buffer.from(raw);
  flipped[flipped.length - 1] = (flipped[flipped.length - 1] ?? 0) ^ 1;

  it.each([
    ['a wrong key', createSealer(randomBytes(32)), sealed, 'connections:gmail:refresh_token'],
    ['another row', sealer, sealed, 'connections:outlook:refresh_token'],
    ['another column', sealer, sealed, 'connections:gmail:access_token'],
    ['a flipped ciphertext bit', sealer, 'v1.' + flipped.toString('base64url'), 'connections:gmail:refresh_token'],
  ])('refuses to open with %s, without leaking the plaintext', (_label, opener, value, aad) => {
    let err: unknown;
    try {
      opener.open(value, aad);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KeyError);
    expect((err as Error).message).toContain(aad);
    expect((err as Error).message).not.toContain(SECRET);
  });

  it.each([
    ['plaintext', SECRET],
    ['unknown version', 'v2.' + raw.toString('base64url')],
    ['truncated', 'v1.' + raw.subarray(0, 20).toString('base64url')],
    ['non-base64url', 'v1.abc+/='],
  ])('rejects a %s value as malformed', (_label, value) => {
    expect(() => sealer.open(value, 'aad')).toThrow(StoreError);
  });
});
