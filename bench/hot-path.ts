/**
 * Hot path (issue "Core" benchmark): cached `accessToken()` calls per second in-process, side by
 * side with google-auth-library's cached `OAuth2Client.getAccessToken()`.
 *
 *   npx tsx bench/hot-path.ts [calls=1000000]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OAuth2Client } from 'google-auth-library';
import { generateKey } from '../src/store/key.js';
import { openWarden } from '../src/warden.js';

const calls = Number(process.argv[2] ?? 1_000_000);
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
await w.keeper.storeGrant('api', {
  accessToken: 'at-' + 'x'.repeat(40),
  tokenType: 'Bearer',
  refreshToken: 'rt',
  expiresAt: Date.now() + 3_600_000,
});

async function measure(label: string, fn: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 10_000; i++) await fn(); // warm up
  const t0 = performance.now();
  for (let i = 0; i < calls; i++) await fn();
  const s = (performance.now() - t0) / 1000;
  const rate = calls / s;
  console.error(`${label}: ${Math.round(rate).toLocaleString()} calls/s`);
  return rate;
}

const gal = new OAuth2Client({ clientId: 'c', clientSecret: 's' });
gal.setCredentials({ access_token: 'at-' + 'x'.repeat(40), refresh_token: 'rt', expiry_date: Date.now() + 3_600_000 });

const tw = await measure('tokenwarden accessToken()', () => w.accessToken('api'));
const g = await measure('google-auth-library getAccessToken()', () => gal.getAccessToken());
console.log(
  JSON.stringify({
    calls,
    tokenwardenPerSec: Math.round(tw),
    googleAuthLibraryPerSec: Math.round(g),
    ratio: +(tw / g).toFixed(2),
  }),
);
await w.close();
rmSync(dir, { recursive: true, force: true });
