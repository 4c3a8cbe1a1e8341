/**
 * CLI cold start: wall time of the built CLI serving a cached token, against bare `node -e ''`
 * (the physical limit: node's own start), interleaved in ABBA pairs. Each command the token
 * helpers share is measured: `token`, `token --format xoauth2`, `git-credential get`, `exec`.
 * The store is the real SQLite file, the config a real file with a `${VAR}`; nothing is stubbed.
 *
 *   npm run build && npx tsx bench/cli-cold-start.ts [pairs=21]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { writeKeyFile } from '../src/store/key.js';
import { openWarden, partsOf } from '../src/warden.js';
import { formatLoad, formatRatio, interleaved } from './lib/pairs.js';
import { writeResult } from './lib/report.js';

const pairs = Number(process.argv[2] ?? 21);
const cli = resolve(import.meta.dirname, '../dist/cli/main.js');
const dir = mkdtempSync(join(tmpdir(), 'tw-bench-cold-'));
writeKeyFile(join(dir, '.tokenwarden/key'));
const configPath = join(dir, 'tokenwarden.yaml');
writeFileSync(
  configPath,
  [
    'connections:',
    '  gmail:',
    '    provider: google',
    '    client_id: cid',
    "    client_secret: '${BENCH_CLIENT_SECRET}'",
    '    scopes: [https://www.googleapis.com/auth/gmail.send]',
    '    account: agent@example.com',
    '',
  ].join('\n'),
);
const env = { ...process.env, BENCH_CLIENT_SECRET: 'not-a-real-secret' };
const w = await openWarden({ configPath, env });
await partsOf(w).keeper.storeGrant('gmail', {
  accessToken: 'ya29.bench-token',
  tokenType: 'Bearer',
  refreshToken: '1//bench-refresh',
  expiresAt: Date.now() + 3_600_000,
});
await w.close();

function timed(args: string[], input?: string): () => number {
  return () => {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, args, { cwd: dir, encoding: 'utf8', env, input: input ?? '' });
    const ms = performance.now() - t0;
    if (r.status !== 0) throw new Error(`${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
    return ms;
  };
}

const bare = timed(['-e', '']);
const commands: Array<{ label: string; args: string[]; input?: string; optional?: boolean }> = [
  { label: '`tokenwarden token gmail`', args: [cli, 'token', 'gmail'] },
  {
    label: '`tokenwarden token gmail --format xoauth2`',
    args: [cli, 'token', 'gmail', '--format', 'xoauth2'],
    optional: true,
  },
  {
    label: '`tokenwarden git-credential get --connection gmail`',
    args: [cli, 'git-credential', 'get', '--connection', 'gmail'],
    input: 'protocol=https\nhost=example.com\n\n',
    optional: true,
  },
  {
    label: '`tokenwarden exec --env T=gmail -- node -e ""` (minus one bare node start)',
    args: [cli, 'exec', '--env', 'T=gmail', '--', process.execPath, '-e', ''],
    optional: true,
  },
];

const rows: string[] = [];
const data: Record<string, unknown> = {};
for (const c of commands) {
  const run = timed(c.args, c.input);
  try {
    run();
  } catch (e) {
    if (c.optional) {
      console.error(`skipped ${c.label}: ${(e as Error).message.split('\n')[0]}`);
      continue;
    }
    throw e;
  }
  const isExec = c.args.includes('exec');
  // exec starts the child as well: compare against two bare starts (the wrapper's own cost).
  const s = await interleaved({ a: run, b: isExec ? () => bare() + bare() : bare, pairs, warmup: 2 });
  rows.push(`| ${c.label} | ${s.a.toFixed(0)} ms | ${s.b.toFixed(0)} ms | **${formatRatio(s)}** | ${formatLoad(s)} |`);
  data[c.label] = { ...s, samplesA: undefined, samplesB: undefined };
}
writeResult(
  'cli-cold-start',
  `npm run build && npx tsx bench/cli-cold-start.ts ${pairs}`,
  [
    `${pairs} interleaved pairs per row; ratio = median of per-pair ratios (min–max). Cached token, unchanged config.`,
    '',
    '| command | median | bare node median | ratio to bare node | load |',
    '|---|---|---|---|---|',
    ...rows,
  ].join('\n'),
  data,
);
rmSync(dir, { recursive: true, force: true });
