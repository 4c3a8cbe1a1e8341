/**
 * The store encryption key: 32 random bytes, written base64-encoded, read
 * from `env:VAR` or `file:PATH` (relative to the config's directory). Messages say what is
 * wrong and what to do, and never include key material.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

import { privateFileWarning } from '../config/file-modes.js';
import { KeyError } from '../core/errors.js';
import { KEY_BYTES } from './seal.js';

export interface LoadKeyOptions {
  /** Directory `file:` paths are relative to (the config file's directory). */
  baseDir: string;
  env: NodeJS.ProcessEnv;
  /** Told about facts worth a warning, e.g. a key file readable by group or others. */
  onWarning?: (message: string) => void;
}

/** 32 fresh random bytes. */
export function generateKey(): Buffer {
  return randomBytes(KEY_BYTES);
}

/** Where a `file:` key spec points, or null for other specs. */
export function keyFilePath(spec: string, baseDir: string): string | null {
  return spec.startsWith('file:') ? resolve(baseDir, spec.slice('file:'.length)) : null;
}

/**
 * Load the key named by `spec` (`env:VAR` or `file:PATH`). Throws KeyError when the variable is
 * unset, the file is missing or unreadable, the value is not base64, or it is not 32 bytes.
 */
export function loadKey(spec: string, opts: LoadKeyOptions): Buffer {
  let text: string;
  if (spec.startsWith('env:')) {
    const name = spec.slice('env:'.length);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
      throw new KeyError('key env:VAR: the variable name must be letters, digits and _');
    const value = opts.env[name];
    if (value === undefined || value.trim() === '') {
      throw new KeyError(
        `encryption key variable ${name} is not set (key: ${spec}); set it to 32 random bytes in base64, e.g. the output of \`openssl rand -base64 32\``,
      );
    }
    text = value;
  } else if (spec.startsWith('file:') && spec.length > 'file:'.length) {
    const path = resolve(opts.baseDir, spec.slice('file:'.length));
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        throw new KeyError(`encryption key file ${path} does not exist (key: ${spec}); run \`tokenwarden init\``, {
          cause: e,
        });
      }
      throw new KeyError(`cannot read encryption key file ${path} (key: ${spec}): ${code ?? 'error'}`, { cause: e });
    }
    const warning = checkKeyFileMode(path);
    if (warning) opts.onWarning?.(warning);
  } else {
    // Do not echo the spec: a misplaced raw key would end up in logs.
    throw new KeyError('key must be env:VAR or file:PATH');
  }
  return decodeKey(text, spec);
}

/** Decode base64 (standard or url alphabet; surrounding whitespace ignored) of exactly 32 bytes. */
export function decodeKey(text: string, source: string): Buffer {
  const trimmed = text.trim();
  // Buffer.from(…, 'base64') silently skips bad characters, so check the alphabet first.
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed)) {
    throw new KeyError(`encryption key (${source}) is not valid base64; expected 32 random bytes, base64-encoded`);
  }
  const key = Buffer.from(trimmed, 'base64');
  if (key.length !== KEY_BYTES) {
    throw new KeyError(`encryption key (${source}) decodes to ${key.length} bytes; it must be ${KEY_BYTES} bytes`);
  }
  return key;
}

/**
 * A warning if the key file can be read or written by group or others (POSIX only), else null.
 */
export function checkKeyFileMode(path: string): string | null {
  return privateFileWarning(path, 'encryption key file');
}

/**
 * Write a new key file (base64 and a newline, mode 0600; parent directory created with mode 0700).
 * Never overwrites: an existing file would guard data that a new key could no longer read.
 * Returns the key written.
 */
export function writeKeyFile(path: string, key: Buffer = generateKey()): Buffer {
  if (key.length !== KEY_BYTES) throw new KeyError(`encryption key must be ${KEY_BYTES} bytes, got ${key.length}`);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  try {
    writeFileSync(path, key.toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new KeyError(
        `encryption key file ${path} already exists; refusing to overwrite it (data sealed with it would become unreadable)`,
        { cause: e },
      );
    }
    throw new KeyError(`cannot write encryption key file ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, {
      cause: e,
    });
  }
  return key;
}
