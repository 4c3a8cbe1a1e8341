import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { KeyError } from '../core/errors.js';
import { checkKeyFileMode, generateKey, loadKey, writeKeyFile } from './key.js';

const dir = mkdtempSync(join(tmpdir(), 'tw-key-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const key = generateKey();
const b64 = key.toString('base64');
const posix = process.platform !== 'win32';

function file(name: string, content: string, mode = 0o600): string {
  const p = join(dir, name);
  writeFileSync(p, content, { mode });
  chmodSync(p, mode);
  return p;
}

describe('generateKey', () => {
  it('makes 32 random bytes', () => {
    expect(generateKey()).toHaveLength(32);
    expect(generateKey().equals(generateKey())).toBe(false);
  });
});

describe('loadKey', () => {
  file('good', b64 + '\n');
  file('good-url', key.toString('base64url'));
  file('padded', `  \n${b64}\r\n\n`);
  file('short', generateKey().subarray(0, 16).toString('base64'));
  file('garbage', 'not base64 at all!');
  file('empty', '');

  it.each([
    ['env with newline', 'env:TW_KEY', { TW_KEY: b64 + '\n' }],
    ['env unpadded', 'env:TW_KEY', { TW_KEY: b64.replace(/=+$/, '') }],
    ['file (relative to baseDir)', 'file:good', {}],
    ['file base64url', 'file:good-url', {}],
    ['file with surrounding whitespace', 'file:padded', {}],
    ['file absolute', `file:${join(dir, 'good')}`, {}],
  ])('loads %s', (_label, spec, env) => {
    expect(loadKey(spec, { baseDir: dir, env }).equals(key)).toBe(true);
  });

  it.each([
    ['unset variable', 'env:TW_MISSING', {}, /TW_MISSING is not set/],
    ['empty variable', 'env:TW_KEY', { TW_KEY: '  ' }, /TW_KEY is not set/],
    ['bad variable name', 'env:1abc', {}, /variable name/],
    ['missing file', 'file:nope', {}, /does not exist.*run `tokenwarden init`/],
    ['empty file', 'file:empty', {}, /not valid base64/],
    ['not base64', 'file:garbage', {}, /not valid base64/],
    ['wrong length', 'file:short', {}, /decodes to 16 bytes; it must be 32 bytes/],
    ['wrong length in env', 'env:TW_KEY', { TW_KEY: Buffer.alloc(48, 7).toString('base64') }, /48 bytes/],
    ['unknown scheme', b64, {}, /env:VAR or file:PATH/],
  ])('rejects %s with a clear KeyError', (_label, spec, env, message) => {
    let err: unknown;
    try {
      loadKey(spec, { baseDir: dir, env });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KeyError);
    expect((err as Error).message).toMatch(message);
    // Never echo key material, even when the spec itself was a raw key.
    expect((err as Error).message).not.toContain(b64.slice(0, 16));
  });

  it.runIf(posix)('warns when the key file is readable by group or others', () => {
    const loose = file('loose', b64, 0o644);
    const warnings: string[] = [];
    expect(loadKey('file:loose', { baseDir: dir, env: {}, onWarning: (m) => warnings.push(m) }).equals(key)).toBe(true);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('0644');
    expect(checkKeyFileMode(loose)).toMatch(/chmod 600/);
    expect(checkKeyFileMode(join(dir, 'good'))).toBeNull();

    const quiet: string[] = [];
    loadKey('file:good', { baseDir: dir, env: {}, onWarning: (m) => quiet.push(m) });
    expect(quiet).toEqual([]);
  });
});

describe('writeKeyFile', () => {
  it('writes base64 with mode 0600 in a new 0700 directory, loadable again', () => {
    const p = join(dir, 'nested', 'deeper', 'key');
    const written = writeKeyFile(p);
    expect(readFileSync(p, 'utf8')).toBe(written.toString('base64') + '\n');
    if (posix) {
      expect(statSync(p).mode & 0o777).toBe(0o600);
      expect(statSync(join(dir, 'nested', 'deeper')).mode & 0o777).toBe(0o700);
    }
    expect(loadKey(`file:${p}`, { baseDir: '/', env: {} }).equals(written)).toBe(true);
  });

  it('never overwrites an existing file', () => {
    const p = join(dir, 'once');
    const first = writeKeyFile(p);
    expect(() => writeKeyFile(p)).toThrow(KeyError);
    expect(() => writeKeyFile(p)).toThrow(/already exists/);
    expect(readFileSync(p, 'utf8').trim()).toBe(first.toString('base64'));
  });

  it('rejects a key that is not 32 bytes and writes nothing', () => {
    const p = join(dir, 'bad-length');
    expect(() => writeKeyFile(p, Buffer.alloc(8))).toThrow(KeyError);
    expect(existsSync(p)).toBe(false);
  });
});
