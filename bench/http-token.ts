/**
 * HTTP token route under load: `POST /api/v1/connections/:name/token`
 * (bearer check in constant time, warden lookup, JSON with the token) against a bare route of
 * the same server in the same run (`POST /bench/bare`, same Authorization header, no work),
 * on loopback with autocannon in a separate process so it does not share the server's event loop.
 *
 *   npx tsx bench/http-token.ts [seconds=10] [connections=32] [rounds=5]
 *
 * Target: the token route within 2x of the bare route (requests/s and p99).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { serve } from '@hono/node-server';
import { createOrchestrator } from '../src/reauth/orchestrator.js';
import { createApp } from '../src/server/app.js';
import { generateKey } from '../src/store/key.js';
import { openWarden, partsOf } from '../src/warden.js';

const seconds = Number(process.argv[2] ?? 10);
const connections = Number(process.argv[3] ?? 32);
const rounds = Number(process.argv[4] ?? 5);
const API_KEY = 'bench-' + 'k'.repeat(40);
const AUTOCANNON = resolve(import.meta.dirname, '..', 'node_modules', '.bin', 'autocannon');

const dir = mkdtempSync(join(tmpdir(), 'tw-bench-http-'));
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
  expiresAt: Date.now() + 24 * 3_600_000,
});

const orchestrator = createOrchestrator(partsOf(w), { channels: new Map() });
const app = createApp({
  warden: w,
  orchestrator,
  apiKey: API_KEY,
  clock: partsOf(w).deps.clock,
  logger: partsOf(w).deps.logger,
  baseUrl: 'http://127.0.0.1',
});
app.post('/bench/bare', (c) => c.json({ ok: true }));
const server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 });
await new Promise((r) => server.once('listening', r));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

interface Run {
  rps: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
}

async function load(path: string): Promise<Run> {
  const { stdout } = await promisify(execFile)(
    AUTOCANNON,
    [
      '--json',
      '-m',
      'POST',
      '-H',
      `authorization=Bearer ${API_KEY}`,
      '-c',
      String(connections),
      '-d',
      String(seconds),
      `${base}${path}`,
    ],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  const r = JSON.parse(stdout) as {
    requests: { average: number };
    latency: { p50: number; p99: number };
    non2xx: number;
    errors: number;
  };
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, non2xx: r.non2xx, errors: r.errors };
}

// Sanity: the token route really answers a token.
const check = await fetch(`${base}/api/v1/connections/api/token`, {
  method: 'POST',
  headers: { authorization: `Bearer ${API_KEY}` },
});
if (check.status !== 200) throw new Error(`token route answered ${check.status}`);

const bare: Run[] = [];
const token: Run[] = [];
await load('/bench/bare'); // warm up both paths (JIT) before measuring
await load('/api/v1/connections/api/token');
for (let i = 0; i < rounds; i++) {
  bare.push(await load('/bench/bare'));
  token.push(await load('/api/v1/connections/api/token'));
}
// The machine may be shared: each round runs the two routes back to back, and the ratios are
// taken per round; the median round is reported.
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const rpsRatios = bare.map((b, i) => b.rps / (token[i]?.rps ?? NaN));
const p99Ratios = bare.map((b, i) => (token[i]?.p99 ?? NaN) / Math.max(b.p99, 1));
bare.forEach((b, i) => {
  const t = token[i] as Run;
  console.error(
    `round ${i + 1}: bare ${Math.round(b.rps)} req/s p99 ${b.p99} ms | token ${Math.round(t.rps)} req/s p99 ${t.p99} ms | ratio rps ${(b.rps / t.rps).toFixed(2)} p99 ${(t.p99 / Math.max(b.p99, 1)).toFixed(2)}`,
  );
});
console.log(
  JSON.stringify({
    seconds,
    connections,
    rounds,
    bareRps: Math.round(median(bare.map((r) => r.rps))),
    bareP99Ms: median(bare.map((r) => r.p99)),
    tokenRps: Math.round(median(token.map((r) => r.rps))),
    tokenP99Ms: median(token.map((r) => r.p99)),
    medianRpsRatio: +median(rpsRatios).toFixed(2),
    medianP99Ratio: +median(p99Ratios).toFixed(2),
    nonOk: [...bare, ...token].reduce((n, r) => n + r.non2xx + r.errors, 0),
  }),
);
server.close();
await w.close();
rmSync(dir, { recursive: true, force: true });
