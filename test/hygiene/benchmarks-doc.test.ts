/**
 * docs/benchmarks.md holds only figures the benchmarks wrote themselves: every
 * `<!-- bench:NAME -->` block is filled by a benchmark of the suite (`npm run bench`), every
 * benchmark in bench/ is in the suite and writes its result, no measured figure sits outside a
 * generated block, and the page speaks of capabilities (no issue, session or date wording).
 * Reads files only; no benchmark runs here.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BENCHMARKS, SUPPORT } from '../../bench/lib/suite.js';

const root = resolve(import.meta.dirname, '../..');
const doc = readFileSync(join(root, 'docs/benchmarks.md'), 'utf8');
const BLOCK = /<!-- bench:([a-z0-9-]+) -->\n[\s\S]*?<!-- \/bench:\1 -->/g;
const blocks = [...doc.matchAll(BLOCK)].map((m) => m[1] as string);
const produced = new Map(BENCHMARKS.flatMap((b) => b.results.map((r) => [r, b.file] as const)));
/** The page with every generated block removed: what was written by hand. */
const prose = doc.replace(BLOCK, '');
/** A number with a unit of time, ratio, rate, size or share: a measured figure. */
const FIGURE =
  /\d[\d,.]*\s*(?:ms|s|min|×|x|req\/s|msg\/s|calls\/s|refreshes\/s|[KMG]B|%|ns|µs)(?![\w/])|\d[\d,.]*\s*(?:requests|messages|kills|refreshes) per\b/;
const WORDING =
  /\bissues?\b|(?:^|[\s(])#\d+\b|\bsessions?\b|\b(?:19|20)\d\d-\d\d-\d\d\b|\b(?:January|February|March|April|May|June|July|August|September|October|November|December)\b|\b(?:today|yesterday|this week)\b/i;
/** Lines written by hand that hold a figure (a bare command line holds sizes, not figures). */
function handWrittenFigures(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => !/^\s*(?:npx|npm|node|TMPDIR=)/.test(l))
    .filter((l) => FIGURE.test(l.replace(/`[^`]*`/g, '')));
}

describe('docs/benchmarks.md and bench/', () => {
  it('every generated block has a benchmark in the suite that writes it, and each appears once', () => {
    expect(blocks.length).toBeGreaterThan(0);
    expect(blocks.filter((n) => !produced.has(n))).toEqual([]);
    expect(blocks.filter((n, i) => blocks.indexOf(n) !== i)).toEqual([]);
  });

  it('every result the suite writes has its block in the page', () => {
    expect([...produced.keys()].filter((n) => !blocks.includes(n))).toEqual([]);
  });

  it('every bench/*.ts is a benchmark of the suite or a named support file', () => {
    const files = readdirSync(join(root, 'bench')).filter((f) => f.endsWith('.ts'));
    const known = new Set([...BENCHMARKS.map((b) => b.file), ...Object.keys(SUPPORT)]);
    expect(files.filter((f) => !known.has(f))).toEqual([]);
    expect([...known].filter((f) => !files.includes(f))).toEqual([]);
    expect(BENCHMARKS.filter((b) => b.file in SUPPORT).map((b) => b.file)).toEqual([]);
  });

  it('every benchmark writes each of its results with writeResult', () => {
    const silent: string[] = [];
    for (const b of BENCHMARKS) {
      const own = readFileSync(join(root, 'bench', b.file), 'utf8');
      // Its own source and the support files it imports (a series runner may write for it).
      const imported = [...own.matchAll(/(?:from |import\()'\.\/([a-z0-9-]+)\.js'/g)]
        .map((m) => `${m[1]}.ts`)
        .filter((f) => f in SUPPORT)
        .map((f) => readFileSync(join(root, 'bench', f), 'utf8'));
      const src = [own, ...imported].join('\n');
      for (const name of b.results) {
        const writes = new RegExp(`writeResult\\(\\s*'${name}'`).test(src);
        if (!writes) silent.push(`${b.file} → ${name}`);
      }
    }
    expect(silent).toEqual([]);
  });

  it('no measured figure outside a generated block', () => {
    expect(handWrittenFigures(prose)).toEqual([]);
  });

  it('speaks of capabilities: no issue, session or date wording', () => {
    expect(doc.split('\n').filter((l) => WORDING.test(l))).toEqual([]);
  });

  it('the checks catch a hand-written figure and a date, and leave a generated block alone', () => {
    expect(handWrittenFigures('It took 12 ms.\nRatio 1.44× bare node.\nAbout 2,408 req/s.\nTwo cores.')).toHaveLength(
      3,
    );
    const generated = '<!-- bench:x -->\n12 ms\n<!-- /bench:x -->\nNo figure here.';
    expect(handWrittenFigures(generated.replace(BLOCK, ''))).toEqual([]);
    expect(WORDING.test('measured on 2026-11-26')).toBe(true);
    expect(WORDING.test('as filed in issue 16')).toBe(true);
    expect(WORDING.test('fixed by #16')).toBe(true);
    expect(WORDING.test('[reliability](reliability.md#1-scale)')).toBe(false);
  });
});
