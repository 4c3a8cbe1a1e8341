/**
 * Hot path: cached `accessToken()` calls per second in-process, side by side with
 * google-auth-library's cached `OAuth2Client.getAccessToken()`, interleaved in ABBA pairs.
 *
 *   npx tsx bench/hot-path.ts [calls=500000] [pairs=9]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OAuth2Client } from 'google-auth-library';
import { generateKey } from '../src/store/key.js';
import { openWarden, partsOf } from '../src/warden.js';
import { formatLoad, formatRatio, interleaved } from './lib/pairs.js';
import { writeResult } from './lib/report.js';

const calls = Number(process.argv[2] ?? 500_000);
const pairs = Number(process.argv[3] ?? 9);
const dir = mkdtempSync(join(tmpdir(), 'tw-bench-hot-'));
const w = await openWarden({
  config: {
    store: 'sqlite:state.db',
    key: 'env:K',
    connections: {
      api: {
        provider: 'oauth2',
        auth_url: 'http://127.0.0.1:1/a',
        token_url: 'http://127.0.0.1:1/t',
        client_id: 'c',
        scopes: [],
      },
    },
  },
  baseDir: dir,
  env: { K: generateKey().toString('base64') },
});
await partsOf(w).keeper.storeGrant('api', {
  accessToken: 'at-' + 'x'.repeat(40),
  tokenType: 'Bearer',
  refreshToken: 'rt',
  expiresAt: Date.now() + 3_600_000,
});

/** Calls per second over `calls` awaited calls (one sample). */
async function rate(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < calls; i++) await fn();
  return calls / ((performance.now() - t0) / 1000);
}

const gal = new OAuth2Client({ clientId: 'c', clientSecret: 's' });
gal.setCredentials({ access_token: 'at-' + 'x'.repeat(40), refresh_token: 'rt', expiry_date: Date.now() + 3_600_000 });

const tw = () => rate(() => w.accessToken('api'));
const g = () => rate(() => gal.getAccessToken());
const s = await interleaved({ a: tw, b: g, pairs, warmup: 2 });
writeResult(
  'hot-path',
  `npx tsx bench/hot-path.ts ${calls} ${pairs}`,
  [
    `Cached token, in process: ${pairs} interleaved pairs (ABBA) of ${calls.toLocaleString('en')} awaited calls each.`,
    '',
    '| | calls/s (median) |',
    '|---|---|',
    `| tokenwarden \`accessToken()\` | ${Math.round(s.a).toLocaleString('en')} |`,
    `| google-auth-library \`getAccessToken()\` | ${Math.round(s.b).toLocaleString('en')} |`,
    '',
    `Ratio tokenwarden / google-auth-library: **${formatRatio(s)}** (${formatLoad(s)}). tokenwarden ${(1e9 / s.a).toFixed(0)} ns per call, google-auth-library ${(1e9 / s.b).toFixed(0)} ns.`,
  ].join('\n'),
  { ...s, samplesA: undefined, samplesB: undefined },
);
await w.close();
rmSync(dir, { recursive: true, force: true });
