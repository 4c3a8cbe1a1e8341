/**
 * Refresh docs/benchmarks.md from the benchmarks' own output (bench/results/NAME.md): the text
 * between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` is replaced by the latest result.
 * `--check` exits 1 if a marked block has no result or differs from it.
 *
 *   npx tsx scripts/bench-docs.ts [--check]
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const doc = resolve(import.meta.dirname, '../docs/benchmarks.md');
const results = resolve(import.meta.dirname, '../bench/results');
const check = process.argv.includes('--check');
const text = readFileSync(doc, 'utf8');
const missing: string[] = [];
const out = text.replace(/<!-- bench:([a-z0-9-]+) -->\n[\s\S]*?<!-- \/bench:\1 -->/g, (block, name: string) => {
  const file = join(results, `${name}.md`);
  if (!existsSync(file)) {
    missing.push(name);
    return block;
  }
  return `<!-- bench:${name} -->\n${readFileSync(file, 'utf8').trim()}\n<!-- /bench:${name} -->`;
});
if (missing.length) console.error(`no result yet for: ${missing.join(', ')} (run those benchmarks)`);
if (check) process.exit(out === text && missing.length === 0 ? 0 : 1);
writeFileSync(doc, out);
