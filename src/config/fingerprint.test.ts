import { describe, expect, it } from 'vitest';
import { configFingerprint, topLevelScalar } from './fingerprint.js';

describe('topLevelScalar', () => {
  it.each([
    ['store: sqlite:a.db\n', 'sqlite:a.db'],
    ["store: 'sqlite:a b.db'  # quoted\n", 'sqlite:a b.db'],
    ['store: "sqlite:${DIR}/a.db"\n', 'sqlite:${DIR}/a.db'],
    ['store: sqlite:a.db # comment\n', 'sqlite:a.db'],
    ['connections: {}\n', undefined],
    ['  store: nested\n', undefined],
    ['store: &anchor sqlite:a\n', null],
    ['store:\n  - x\n', null],
    ['store: "esc\\"aped"\n', null],
    ["store: 'it''s'\n", null],
    ['store: a\nstore: b\n', null],
    ['store: { x: 1 }\n', null],
  ])('%j → %j', (text, expected) => {
    expect(topLevelScalar(text, 'store')).toBe(expected);
  });
});

describe('configFingerprint', () => {
  const key = Buffer.alloc(32, 7);
  const base = { path: '/a/tokenwarden.yaml', text: 'x: ${A}\n', connection: 'gmail' };
  const fp = configFingerprint(key, base, { A: '1' });
  it.each([
    ['another key', () => configFingerprint(Buffer.alloc(32, 8), base, { A: '1' })],
    ['another path', () => configFingerprint(key, { ...base, path: '/b/tokenwarden.yaml' }, { A: '1' })],
    ['another text', () => configFingerprint(key, { ...base, text: 'x: ${A} \n' }, { A: '1' })],
    ['another connection', () => configFingerprint(key, { ...base, connection: 'gmail2' }, { A: '1' })],
    ['another value of a referenced variable', () => configFingerprint(key, base, { A: '2' })],
    ['the variable unset', () => configFingerprint(key, base, {})],
  ])('changes with %s', (_label, other) => {
    expect(other()).not.toBe(fp);
  });
  it('ignores variables the text does not reference, and holds none of the values', () => {
    expect(configFingerprint(key, base, { A: '1', B: 'zzz' })).toBe(fp);
    expect(fp).not.toContain('1');
  });
});
