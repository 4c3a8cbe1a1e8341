/**
 * The API proxy's path check against random raw paths built from the pieces of traversal
 * attacks (dots, slashes, backslashes, percent signs, hex digits): whatever it accepts stays
 * inside the allow-list however the upstream reads it — WHATWG URL normalisation, and one or
 * two rounds of percent-decoding followed by dot-segment removal.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkProxyPath } from '../../src/integrations/api-proxy.js';

const ALLOW = ['/gmail/v1/users/me/messages'];

/** RFC 3986 §5.2.4 remove_dot_segments on an absolute path. */
function removeDots(path: string): string {
  const out: string[] = [];
  for (const seg of path.split('/').slice(1)) {
    if (seg === '..') out.pop();
    else if (seg !== '.') out.push(seg);
  }
  return '/' + out.join('/');
}

const inside = (p: string): boolean => ALLOW.some((a) => p === a || p.startsWith(a + '/'));

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

describe('API proxy path check', () => {
  it('anything accepted stays inside the allow-list under every reading', () => {
    const piece = fc.constantFrom(
      '.',
      '..',
      '%2e',
      '%2E',
      '%2f',
      '%2F',
      '%5c',
      '%25',
      '%',
      '2e',
      '/',
      '\\',
      'a',
      'messages',
      'x',
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 12 }), (pieces) => {
        const raw = `${ALLOW[0]}/${pieces.join('')}`;
        let accepted: string;
        try {
          accepted = checkProxyPath(raw, ALLOW);
        } catch {
          return;
        }
        expect(inside(accepted)).toBe(true);
        expect(inside(new URL(`http://h${raw}`).pathname)).toBe(true);
        const once = safeDecode(raw);
        expect(inside(removeDots(once))).toBe(true);
        expect(inside(removeDots(safeDecode(once)))).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('known attacks are refused and plain ids pass', () => {
    for (const p of ['/../x', '/%2e%2e/x', '/..%2fx', '/%252e%252e/x', '/..%5cx', '//x', '/a/./b', '/%00'])
      expect(() => checkProxyPath(`${ALLOW[0]}${p}`, ALLOW), p).toThrow();
    expect(checkProxyPath(`${ALLOW[0]}/18c0%3Aab`, ALLOW)).toBe(`${ALLOW[0]}/18c0:ab`);
    expect(() => checkProxyPath('/gmail/v1/users/me/messagesX', ALLOW)).toThrow(/not in this connection/);
  });
});
