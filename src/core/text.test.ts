import { describe, expect, it } from 'vitest';
import { neutralizeControls } from './text.js';

describe('neutralizeControls', () => {
  it('replaces C0, DEL and C1 with visible stand-ins; keeps line feeds and tabs only when multiline', () => {
    const s = 'a\u001b[31mb\u0007c\u007fd\u009be\r\nf\tg';
    expect(neutralizeControls(s)).toBe('a␛[31mb␇c␡d\ufffde␍␊f␉g');
    expect(neutralizeControls(s, { multiline: true })).toBe('a␛[31mb␇c␡d\ufffde␍\nf\tg');
    expect(neutralizeControls('plain ünïcödé → ok')).toBe('plain ünïcödé → ok');
  });
});
