/**
 * HTTP token route under load: `POST /api/v1/connections/:name/token` of the daemon
 * (`startDaemon`: API key check in constant time, Host check, warden lookup, JSON
 * with the token; real SQLite store) against the physical limit, a bare `node:http` server
 * answering a cached string, both in this process. autocannon runs in its own process with
 * keep-alive connections; the two run interleaved (ABBA, ≥ 5 pairs).
 *
 *   npx tsx bench/http-token.ts [seconds=5] [connections=32] [pairs=5]
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { startDaemon } from '../src/daemon.js';
import { partsOf } from '../src/warden.js';
import { generateKey } from '../src/store/key.js';
import { formatLoad, formatRatio, interleaved, median } from './lib/pairs.js';
import { writeResult } from './lib/report.js';

const seconds = Number(process.argv[2] ?? 5);
const connections = Number(process.argv[3] ?? 32);
const pairs = Number(process.argv[4] ?? 5);
const API_KEY = 'bench-' + 'k'.repeat(40);
const AUTOCANNON = resolve(import.meta.dirname, '..', 'node_modules', '.bin', 'autocannon');
const TOKEN = 'at-' + 'x'.repeat(40);

const dir = mkdtempSync(join(tmpdir(), 'tw-bench-http-'));
const configPath = join(dir, 'tokenwarden.yaml');
writeFileSync(
  configPath,
  stringify({
    store: 'sqlite:state.db',
    key: 'env:TW_BENCH_KEY',
    server: { api_key: API_KEY },
    connections: {
      api: {
        provider: 'oauth2',
        auth_url: 'http://127.0.0.1:9/a',
        token_url: 'http://127.0.0.1:9/t',
        client_id: 'c',
        scopes: [],
      },
    },
  }),
);
const daemon = await startDaemon({
  configPath,
  env: { ...process.env, TW_BENCH_KEY: generateKey().toString('base64') },
  listen: '127.0.0.1:0',
});
await partsOf(daemon.warden).keeper.storeGrant('api', {
  accessToken: TOKEN,
  tokenType: 'Bearer',
  refreshToken: 'rt',
  expiresAt: Date.now() + 24 * 3_600_000,
});
const tokenUrl = `${daemon.baseUrl.replace(/\/$/, '')}/api/v1/connections/api/token`;

// The peer: the least an HTTP server can do for this request — check nothing, answer a cached string.
const cached = JSON.stringify({ connection: 'api', access_token: TOKEN, token_type: 'Bearer' });
const bareServer = createServer((req, res) => {
  req.resume();
  req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(cached));
});
await new Promise<void>((r) => bareServer.listen(0, '127.0.0.1', r));
const bareUrl = `http://127.0.0.1:${(bareServer.address() as AddressInfo).port}/token`;

interface Run {
  rps: number;
  p50: number;
  p99: number;
  bad: number;
}
const runs: { token: Run[]; bare: Run[] } = { token: [], bare: [] };

async function load(url: string, into: Run[]): Promise<number> {
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
      url,
    ],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  const r = JSON.parse(stdout) as {
    requests: { average: number };
    latency: { p50: number; p99: number };
    non2xx: number;
    errors: number;
  };
  into.push({ rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, bad: r.non2xx + r.errors });
  return r.requests.average;
}

// Sanity: the token route really answers the token.
const check = await fetch(tokenUrl, { method: 'POST', headers: { authorization: `Bearer ${API_KEY}` } });
const body = (await check.json()) as { access_token?: string };
if (check.status !== 200 || body.access_token !== TOKEN) throw new Error(`token route answered ${check.status}`);

const s = await interleaved({
  a: () => load(tokenUrl, runs.token),
  b: () => load(bareUrl, runs.bare),
  pairs,
  warmup: 1,
});
const measured = { token: runs.token.slice(1), bare: runs.bare.slice(1) }; // drop the warm-up pair
const med = (rs: Run[], k: 'p50' | 'p99'): number => median(rs.map((r) => r[k]));
const bad = [...measured.token, ...measured.bare].reduce((n, r) => n + r.bad, 0);
writeResult(
  'http-token',
  `npx tsx bench/http-token.ts ${seconds} ${connections} ${pairs}`,
  [
    `autocannon in its own process, ${connections} keep-alive connections, ${seconds} s per sample, ${pairs} interleaved pairs (ABBA) after one warm-up pair. Product: the daemon's \`POST /api/v1/connections/:name/token\` (\`startDaemon\` in this process: API key, Host check, SQLite store). Peer: a bare \`node:http\` server answering a cached string, in the same process. Ratio = token route / bare server requests per second (median of per-pair ratios, min–max); latencies are medians of the samples' p50/p99 (autocannon's 1 ms resolution).`,
    '',
    '| | req/s (median) | p50 / p99 ms |',
    '|---|---|---|',
    `| daemon token route | ${Math.round(s.a).toLocaleString('en')} | ${med(measured.token, 'p50')} / ${med(measured.token, 'p99')} |`,
    `| bare node:http, cached string | ${Math.round(s.b).toLocaleString('en')} | ${med(measured.bare, 'p50')} / ${med(measured.bare, 'p99')} |`,
    '',
    `Ratio token route / bare node: **${formatRatio(s)}** (${formatLoad(s)}). Non-2xx answers or errors: ${bad}.`,
  ].join('\n'),
  { ...s, runs: measured },
);
bareServer.close();
await daemon.close();
rmSync(dir, { recursive: true, force: true });
process.exit(0);
