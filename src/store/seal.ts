/**
 * Sealing of secret values at rest: AES-256-GCM with a random 96-bit IV per
 * value and associated data binding the value to its place (`<table>:<row key>:<column>`), so a
 * sealed value copied to another row or column fails to open.
 *
 * Format: `v1.` + base64url(iv[12] | tag[16] | ciphertext). The version prefix leaves room for
 * key rotation or another cipher later without guessing.
 *
 * @see https://nvlpubs.nist.gov/nistpubs/Legacy/SP/nistspecialpublication800-38d.pdf (GCM, 96-bit IVs)
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

import { KeyError, StoreError } from '../core/errors.js';
import type { Sealer } from './types.js';

/** Bytes in an AES-256 key. */
export const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const PREFIX = 'v1.';
const ALGORITHM = 'aes-256-gcm';

/** True if `value` looks like the output of {@link Sealer.seal} (format only, not authenticity). */
export function isSealed(value: string): boolean {
  return value.startsWith(PREFIX) && /^[A-Za-z0-9_-]+$/.test(value.slice(PREFIX.length));
}

/**
 * A {@link Sealer} over a 32-byte key. Throws KeyError for any other key length.
 * Opening with the wrong key, the wrong `aad` or a tampered value throws KeyError; a value that
 * is not in the sealed format throws StoreError. Messages name the `aad`, never the plaintext.
 */
export function createSealer(key: Buffer): Sealer {
  if (!Buffer.isBuffer(key) || key.length !== KEY_BYTES) {
    const got = Buffer.isBuffer(key) ? `${key.length} bytes` : typeof key;
    throw new KeyError(`encryption key must be ${KEY_BYTES} bytes, got ${got}`);
  }
  // Own copy: a caller zeroing or reusing its buffer must not change our key.
  const k = Buffer.from(key);

  return {
    seal(plaintext: string, aad: string): string {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv(ALGORITHM, k, iv, { authTagLength: TAG_BYTES });
      cipher.setAAD(Buffer.from(aad, 'utf8'));
      const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return PREFIX + Buffer.concat([iv, cipher.getAuthTag(), ciphertext]).toString('base64url');
    },

    open(sealed: string, aad: string): string {
      if (!isSealed(sealed)) throw new StoreError(`stored value for ${aad} is not a sealed value (unknown format)`);
      const raw = Buffer.from(sealed.slice(PREFIX.length), 'base64url');
      if (raw.length < IV_BYTES + TAG_BYTES) throw new StoreError(`stored value for ${aad} is truncated`);
      const decipher = createDecipheriv(ALGORITHM, k, raw.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.from(aad, 'utf8'));
      decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      try {
        return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
      } catch (e) {
        throw new KeyError(
          `cannot open sealed value for ${aad}: wrong encryption key, or the value was moved from another row or column, or altered`,
          { cause: e },
        );
      }
    },
  };
}
