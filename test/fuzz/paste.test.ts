/**
 * Bad input: the paste parser on random text, random URLs and chat-wrapped
 * redirects. It never throws; every rejection carries a reason a human can read; whatever it
 * accepts is an authorization response it can point at.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parsePaste } from '../../src/reauth/paste.js';

const RUNS = 400;

const wrappers = fc.constantFrom(
  ['', ''],
  ['`', '`'],
  ['"', '"'],
  ['<', '>'],
  ['(', ')'],
  ['**', '**'],
  ['here: ', '.'],
  ['\u200B', '\uFEFF'],
);
// Codes and states end in an alphanumeric: a trailing `.` is read as the end of a sentence (by design).
const token = fc.stringMatching(/^[A-Za-z0-9\-._~]{3,40}[A-Za-z0-9]$/);
const redirect = fc
  .record({
    host: fc.constantFrom('127.0.0.1:7465', 'localhost:8080', '[::1]:9000', 'agent.example.com'),
    code: token,
    state: token,
    scheme: fc.constantFrom('http', 'https'),
  })
  .map(({ host, code, state, scheme }) => ({
    text: `${scheme}://${host}/oauth/callback?code=${code}&state=${state}`,
    code,
    state,
  }));

describe('parsePaste on arbitrary input', () => {
  it('never throws on any string, and every rejection has a reason', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 200 }),
          fc.string({ unit: 'grapheme', maxLength: 200 }),
          fc.string({ unit: 'binary', maxLength: 300 }),
          fc.webUrl({ withQueryParameters: true, withFragments: true }),
        ),
        (text) => {
          const r = parsePaste(text);
          expect(['redirect', 'code', 'invalid']).toContain(r.kind);
          if (r.kind === 'invalid') expect(r.reason).toMatch(/^the |[a-z]/);
          if (r.kind === 'invalid') expect(r.reason.length).toBeGreaterThan(5);
          if (r.kind === 'redirect') expect(r.url).toBeInstanceOf(URL);
          if (r.kind === 'code') expect(r.code.length).toBeGreaterThanOrEqual(4);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('finds the code and state of a redirect however a chat client wraps it', () => {
    fc.assert(
      fc.property(redirect, wrappers, (r, [pre, post]) => {
        const p = parsePaste(`${pre}${r.text}${post}`);
        expect(p.kind).toBe('redirect');
        if (p.kind === 'redirect') {
          expect(p.code).toBe(r.code);
          expect(p.state).toBe(r.state);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('refuses oversized and control-character pastes with a specific reason', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 20 }), fc.integer({ min: 0, max: 8 }), (s, c) => {
        const withControl = parsePaste(`${s}${String.fromCharCode(c)}${s}`);
        if (c !== 0 || s.length > 0)
          expect(withControl.kind === 'invalid' ? withControl.reason : 'control').toMatch(/control/);
      }),
      { numRuns: 100 },
    );
    const big = parsePaste('x'.repeat(9000));
    expect(big).toEqual({ kind: 'invalid', reason: expect.stringMatching(/too long/) as string });
  });
});
