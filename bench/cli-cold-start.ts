/**
 * CLI cold start (issue "Core" benchmark): median wall time of `tokenwarden token <conn>` (built
 * CLI, cached token in the store) as a ratio to bare `node -e ''`. Target ≤ 3x.
 *
 *   npm run build && npx tsx bench/cli-cold-start.ts [runs=30]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { writeKeyFile } from '../src/store/key.js';
import { openWarden } from '../src/warden.js';

const runs = Number(process.argv[2] ?? 30);
const cli = resolve(import.meta.dirname, '../dist/cli/main.js');
const dir = mkdtempSync(join(tmpdir(), 'tw-bench-cold-'));
writeKeyFile(join(dir, '.tokenwarden/key'));
const configPath = join(dir, 'tokenwarden.yaml');
writeFileSync(
  configPath,
  stringify({
    connections: {
      gmail: {
        provider: 'google',
        client_id: 'cid',
        client_secret: 's',
        scopes: ['https://www.googleapis.com/auth/gmail.send'],
        app_status: 'testing',
      },
    },
  }),
);
const w = await openWarden({ configPath });
await w.keeper.storeGrant('gmail', {
  accessToken: 'ya29.bench-token',
  tokenType: 'Bearer',
  refreshToken: 'rt',
  expiresAt: Date.now() + 3_600_000,
});
await w.close();

function median(cmd: string[]): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, cmd, { cwd: dir, encoding: 'utf8' });
    times.push(performance.now() - t0);
    if (r.status !== 0) throw new Error(`exit ${r.status}: ${r.stderr}`);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] as number;
}
const bare = median(['-e', '']);
const token = median([cli, 'token', 'gmail']);
console.log(
  JSON.stringify({ runs, bareNodeMs: +bare.toFixed(1), tokenMs: +token.toFixed(1), ratio: +(token / bare).toFixed(2) }),
);
rmSync(dir, { recursive: true, force: true });
