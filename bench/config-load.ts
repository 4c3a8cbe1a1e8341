/**
 * Reading a large tokenwarden.yaml: `loadConfigFile` (read, js-yaml with the core schema, every
 * connection validated by the zod schema; identical connections validated once) against the
 * physical limit, reading and parsing the same YAML with js-yaml and validating nothing.
 * Interleaved (ABBA, ≥ 5 pairs); the process's max resident memory is reported after the run.
 *
 *   npx tsx bench/config-load.ts [connections=20000] [pairs=5]
 *   npx tsx bench/config-load.ts 100000 --only-now   # one read, its time and the max RSS (no result written)
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CORE_SCHEMA, load as loadYaml } from 'js-yaml';
import { loadConfigFile } from '../src/config/load.js';
import { formatLoad, formatRatio, interleaved } from './lib/pairs.js';
import { writeResult } from './lib/report.js';

const positional = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const n = Number(positional[0] ?? 20_000);
const pairs = Number(positional[1] ?? 5);
const dir = mkdtempSync(join(tmpdir(), 'tw-bench-config-'));
const file = join(dir, 'tokenwarden.yaml');
const lines = ['store: sqlite:state.db', 'key: env:TW_KEY', 'connections:'];
for (let i = 0; i < n; i++)
  lines.push(
    `  c${String(i).padStart(6, '0')}:`,
    '    provider: oauth2',
    '    client_id: app',
    '    client_secret: ${APP_SECRET}',
    '    auth_url: https://auth.example.com/authorize',
    '    token_url: https://auth.example.com/token',
    '    scopes: [api]',
  );
const text = lines.join('\n') + '\n';
writeFileSync(file, text);
const env = { APP_SECRET: 's3cret', TW_KEY: 'unused' };

function timed(fn: () => number): () => number {
  return () => {
    const t = performance.now();
    const count = fn();
    const ms = performance.now() - t;
    if (count !== n) throw new Error(`read ${count} connections, expected ${n}`);
    return ms;
  };
}

try {
  if (process.argv.includes('--only-now')) {
    const t = performance.now();
    loadConfigFile(file, env);
    const ms = Math.round(performance.now() - t);
    const rss = Math.round(process.resourceUsage().maxRSS / 1024);
    console.log(
      `${n} connections, ${(text.length / 2 ** 20).toFixed(1)} MB of YAML: loadConfigFile ${ms} ms, max RSS ${rss} MB`,
    );
    rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  }
  const s = await interleaved({
    a: timed(() => Object.keys(loadConfigFile(file, env).config.connections).length),
    b: timed(() => {
      const raw = loadYaml(readFileSync(file, 'utf8'), { schema: CORE_SCHEMA }) as { connections: object };
      return Object.keys(raw.connections).length;
    }),
    pairs,
    warmup: 1,
  });
  const rss = Math.round(process.resourceUsage().maxRSS / 1024);
  writeResult(
    'config-load',
    `npx tsx bench/config-load.ts ${n} ${pairs}`,
    [
      `A tokenwarden.yaml of ${n.toLocaleString('en')} connections (${(text.length / 2 ** 20).toFixed(1)} MB), ${pairs} interleaved pairs (ABBA) in one process. Peer: the physical limit, reading and parsing the same file with js-yaml and validating nothing.`,
      '',
      '| | median |',
      '|---|---|',
      `| \`loadConfigFile\` (read, parse, validate, \`\${VAR}\` resolved) | ${s.a.toFixed(0)} ms |`,
      `| js-yaml read and parse only | ${s.b.toFixed(0)} ms |`,
      '',
      `Ratio loadConfigFile / parse only: **${formatRatio(s)}** (${formatLoad(s)}). Max RSS of the benchmark process after the run: ${rss} MB (the benchmark's own copy of the text included).`,
    ].join('\n'),
    { ...s, connections: n, yamlBytes: text.length, maxRssMB: rss },
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
