/**
 * API proxy for agents: `GET /api/v1/connections/:name/proxy/<path>` through the daemon
 * (`tokenwarden serve` as a child process of the built CLI: API key, Host check, the real SQLite
 * store, the connection's token injected, the access log line per request) against the same
 * request sent straight to the API with the token, at the same concurrency, interleaved in ABBA
 * pairs. The API is a local HTTP server on 127.0.0.1 that refuses any bearer but the
 * connection's token and answers a small JSON list, like a provider's list call. The load
 * comes from autocannon in its own process (keep-alive connections), so it shares the event
 * loop of neither side.
 *
 *   npm run build && npx tsx bench/api-proxy.ts [seconds=3] [connections=16] [pairs=5]
 *
 * Target: proxy / direct requests per second ≥ 0.5.
 */
import { execFile, execFileSync } from 'node:child_process';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { openWarden } from '../src/warden.js';
import { spawnServe } from '../test/daemon/helpers.js';
import { makeWorkspace } from '../test/helpers/workspace.js';
import { bearerOf, listenHttp } from '../test/peers/http-fake.js';
import { formatLoad, formatRatio, interleaved, median } from './lib/pairs.js';
import { writeResult } from './lib/report.js';

const seconds = Number(process.argv[2] ?? 3);
const connections = Number(process.argv[3] ?? 16);
const pairs = Number(process.argv[4] ?? 5);
const API_KEY = 'bench-api-key-' + 'k'.repeat(32);
const TOKEN = 'ya29.bench-' + 'x'.repeat(60);
const PATH = '/gmail/v1/users/me/messages';
const AUTOCANNON = resolve(import.meta.dirname, '..', 'node_modules', '.bin', 'autocannon');

// The API: only the connection's token gets in; a list of 20 message ids (~1 KB of JSON).
const listing = JSON.stringify({
  messages: Array.from({ length: 20 }, (_, i) => ({ id: `18c${i}f00dcafe${i}`, threadId: `18c${i}beef${i}` })),
  resultSizeEstimate: 20,
});
let refusedByApi = 0;
const api = await listenHttp(async (req: IncomingMessage, res: ServerResponse) => {
  if (bearerOf(req) !== TOKEN) {
    refusedByApi++;
    res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token"', 'content-type': 'application/json' });
    res.end('{"error":"invalid_token"}');
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
  res.end(listing);
});

const ws = makeWorkspace({
  server: { listen: '127.0.0.1:0', api_key: API_KEY },
  connections: {
    gmail: {
      provider: 'oauth2',
      auth_url: 'http://127.0.0.1:1/authorize',
      token_url: 'http://127.0.0.1:1/token',
      client_id: 'bench-client',
      scopes: ['https://www.googleapis.com/auth/gmail.readonly'],
      api_base: `${api.url}/`,
      api_proxy: { methods: ['GET'], paths: [PATH] },
    },
  },
});
// The grant as a human's authorization leaves it: sealed in the store, valid for the whole run.
const seed = await openWarden({ configPath: ws.configPath });
await seed.keeper.storeGrant('gmail', {
  accessToken: TOKEN,
  tokenType: 'Bearer',
  refreshToken: '1//bench-refresh',
  expiresAt: Date.now() + 24 * 3_600_000,
});
await seed.close();
const serve = await spawnServe(ws);

const proxyUrl = `${serve.url}/api/v1/connections/gmail/proxy${PATH}?maxResults=20`;
const directUrl = `${api.url}${PATH}?maxResults=20`;

interface Sample {
  rps: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
}
const samples: { proxy: Sample[]; direct: Sample[] } = { proxy: [], direct: [] };

async function load(url: string, bearer: string, into: Sample[]): Promise<number> {
  const { stdout } = await promisify(execFile)(
    AUTOCANNON,
    ['-c', String(connections), '-d', String(seconds), '-j', '-H', `authorization=Bearer ${bearer}`, url],
    { maxBuffer: 16 * 1024 * 1024 },
  );
  const r = JSON.parse(stdout) as {
    requests: { average: number };
    latency: { p50: number; p99: number };
    non2xx: number;
    errors: number;
    timeouts: number;
  };
  const s = {
    rps: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    non2xx: r.non2xx,
    errors: r.errors + r.timeouts,
  };
  if (s.non2xx || s.errors) throw new Error(`${url}: ${s.non2xx} non-2xx answers, ${s.errors} errors`);
  into.push(s);
  return s.rps;
}

console.log(`uptime before: ${execFileSync('uptime').toString().trim()}`);
try {
  // One call each way first: the proxy answers what the API answers, with the token injected.
  const viaProxy = await fetch(proxyUrl, { headers: { authorization: `Bearer ${API_KEY}` } });
  const direct = await fetch(directUrl, { headers: { authorization: `Bearer ${TOKEN}` } });
  const [pb, db] = [await viaProxy.text(), await direct.text()];
  if (viaProxy.status !== 200 || pb !== db) throw new Error(`proxy answered ${viaProxy.status}: ${pb}`);
  const noKey = await fetch(proxyUrl);
  if (noKey.status !== 401) throw new Error(`proxy without the API key answered ${noKey.status}`);

  const s = await interleaved({
    a: () => load(proxyUrl, API_KEY, samples.proxy),
    b: () => load(directUrl, TOKEN, samples.direct),
    pairs,
    warmup: 1,
  });
  // Drop the warm-up samples (the first of each list) from the latency figures.
  const measured = (xs: Sample[]): Sample[] => xs.slice(1);
  const lat = (xs: Sample[], k: 'p50' | 'p99'): number => median(measured(xs).map((x) => x[k]));
  const row = (label: string, xs: Sample[], rps: number): string =>
    `| ${label} | ${Math.round(rps).toLocaleString('en-US')} | ${lat(xs, 'p50')} | ${lat(xs, 'p99')} |`;
  const meets = s.ratio >= 0.5 ? 'met' : '**not met**';
  const markdown = [
    `\`tokenwarden serve\` runs as a child process of the built CLI (API key, Host check, SQLite store, the connection's token injected, one access log line per request); the API is a local HTTP server that accepts only that token and answers a ~1 KB JSON list. autocannon in its own process, ${connections} keep-alive connections, ${seconds} s per sample, ${pairs} interleaved pairs after one warm-up pair. Ratio = proxy / direct requests per second (median of per-pair ratios, min–max); latencies are the medians of the samples' own p50/p99 (autocannon's 1 ms resolution).`,
    '',
    '| path | req/s | p50 ms | p99 ms |',
    '|---|---|---|---|',
    row('`GET /api/v1/connections/gmail/proxy/…` (daemon → API)', samples.proxy, s.a),
    row('straight to the API with the token', samples.direct, s.b),
    '',
    `Ratio proxy / direct: **${formatRatio(s)}** — target ≥ 0.5 ${meets}. 0 non-2xx answers, ${refusedByApi} refused by the API; ${formatLoad(s)}.`,
  ].join('\n');
  writeResult('api-proxy', `npm run build && npx tsx bench/api-proxy.ts ${seconds} ${connections} ${pairs}`, markdown, {
    ...s,
    samplesA: undefined,
    samplesB: undefined,
    proxy: samples.proxy,
    direct: samples.direct,
    refusedByApi,
  });
  console.log(`uptime after: ${execFileSync('uptime').toString().trim()}`);
} finally {
  const code = await serve.stop();
  await api.stop();
  ws.cleanup();
  if (code !== 0) console.error(`serve exited with ${code}: ${serve.stderr()}`);
}
