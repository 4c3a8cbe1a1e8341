/**
 * Benchmarks write their tables here; `npx tsx scripts/bench-docs.ts` puts them into
 * docs/benchmarks.md between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->`, so every figure
 * in the document is the output of the command named beside it, never typed by hand.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';

/** `TW_BENCH_RESULTS_DIR` redirects them (the suite's quick smoke run), leaving the real ones alone. */
export const RESULTS_DIR = process.env['TW_BENCH_RESULTS_DIR'] ?? resolve(import.meta.dirname, '../results');

/** Record `markdown` (the section body: command, table, load) as the result of benchmark `name`. */
export function writeResult(name: string, command: string, markdown: string, data: unknown): void {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const machine = `${cpus().length} cores, Node ${process.version}`;
  const body = `\`${command}\` — ${machine}\n\n${markdown.trim()}\n`;
  writeFileSync(join(RESULTS_DIR, `${name}.md`), body);
  writeFileSync(join(RESULTS_DIR, `${name}.json`), JSON.stringify({ command, machine, data }, null, 2) + '\n');
  process.stdout.write(body);
}
