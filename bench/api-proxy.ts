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
import { openWarden, partsOf } from '../src/warden.js';
import { makeWorkspace } from '../test/helpers/workspace.js';
import { bearerOf, listenHttp } from '../test/peers/http-fake.js';
import { formatLoad, formatRatio, interleaved, median } from './lib/pairs.js';
import { writeResult } from './lib/report.js';
import { startServeProcess } from './lib/serve-process.js';

const seconds = Number(process.argv[2] ?? 3);
const connections = Number(process.argv[3] ?? 16);
const LIMIT_MIN = 10;
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
/** How long the API takes to answer; one row per value (0: pure overhead; 20 ms: a real API's own time). */
let apiDelayMs = 0;
const api = await listenHttp(async (req: IncomingMessage, res: ServerResponse) => {
  if (apiDelayMs) await new Promise((r) => setTimeout(r, apiDelayMs));
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
await partsOf(seed).keeper.storeGrant('gmail', {
  accessToken: TOKEN,
  tokenType: 'Bearer',
  refreshToken: '1//bench-refresh',
  expiresAt: Date.now() + 24 * 3_600_000,
});
await seed.close();
const serve = await startServeProcess(ws);
// Bounded in time: a run that hangs stops the daemon and exits rather than waiting forever.
const watchdog = setTimeout(() => {
  console.error(`bench: over ${LIMIT_MIN} minutes, stopping`);
  serve.child.kill('SIGKILL');
  ws.cleanup();
  process.exit(2);
}, LIMIT_MIN * 60_000);
watchdog.unref();

const proxyUrl = `${serve.url}/api/v1/connections/gmail/proxy${PATH}?maxResults=20`;
const directUrl = `${api.url}${PATH}?maxResults=20`;

interface Sample {
  rps: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
}

async function load(url: string, bearer: string, into: Sample[], method = 'GET'): Promise<number> {
  const { stdout } = await promisify(execFile)(
    AUTOCANNON,
    ['-c', String(connections), '-d', String(seconds), '-j', '-m', method, '-H', `authorization=Bearer ${bearer}`, url],
    { maxBuffer: 16 * 1024 * 1024, timeout: (seconds + 60) * 1000 },
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

  const rows: string[] = [];
  let ceiling = '';
  const data: Record<string, unknown> = { refusedByApi: 0 };
  const ratios: string[] = [];
  for (const delay of [0, 20]) {
    apiDelayMs = delay;
    const samples: { proxy: Sample[]; direct: Sample[] } = { proxy: [], direct: [] };
    const s = await interleaved({
      a: () => load(proxyUrl, API_KEY, samples.proxy),
      b: () => load(directUrl, TOKEN, samples.direct),
      pairs,
      warmup: 1,
    });
    // Latencies: medians of the measured samples' own p50/p99 (the first sample of each side is the warm-up).
    const lat = (xs: Sample[], k: 'p50' | 'p99'): number => median(xs.slice(1).map((x) => x[k]));
    const rps = (n: number): string => Math.round(n).toLocaleString('en-US');
    rows.push(
      `| ${delay} ms | ${rps(s.a)} | ${rps(s.b)} | **${formatRatio(s)}** | ${lat(samples.proxy, 'p50')} / ${lat(samples.proxy, 'p99')} | ${lat(samples.direct, 'p50')} / ${lat(samples.direct, 'p99')} | ${formatLoad(s)} |`,
    );
    ratios.push(`${delay} ms: ${s.ratio >= 0.5 ? 'met' : '**not met**'}`);
    data[`delay${delay}`] = {
      ...s,
      samplesA: undefined,
      samplesB: undefined,
      proxy: samples.proxy,
      direct: samples.direct,
    };
  }
  // The ceiling: the daemon's own token route (API key, Host check, cached token, JSON answer; no
  // upstream call) against the same direct calls. The proxy does all of that and an upstream call.
  {
    apiDelayMs = 0;
    const samples: { route: Sample[]; direct: Sample[] } = { route: [], direct: [] };
    const tokenUrl = `${serve.url}/api/v1/connections/gmail/token`;
    const s = await interleaved({
      a: () => load(tokenUrl, API_KEY, samples.route, 'POST'),
      b: () => load(directUrl, TOKEN, samples.direct),
      pairs,
      warmup: 1,
    });
    const rps = (n: number): string => Math.round(n).toLocaleString('en-US');
    ceiling = `Ceiling, same run: the daemon's own token route (\`POST /api/v1/connections/gmail/token\`: API key, Host check, cached token, a JSON answer, no upstream call and no log line) serves ${rps(s.a)} req/s against ${rps(s.b)} direct, **${formatRatio(s)}** (${formatLoad(s)}).`;
    data.tokenRoute = { ...s, samplesA: undefined, samplesB: undefined, route: samples.route, direct: samples.direct };
  }
  data.refusedByApi = refusedByApi;
  const accessLines = serve
    .log()
    .split('\n')
    .filter((l) => l.includes('"msg":"api proxy"')).length;
  data.accessLines = accessLines;
  const markdown = [
    `\`tokenwarden serve\` runs as a child process of the built CLI (API key, Host check, SQLite store, the connection's token injected, one access log line per request, written to a log file); the API is a local HTTP server on 127.0.0.1 that accepts only that token and answers a ~1 KB JSON list, at once (row 1: the proxy's own cost, nothing to hide it) or after 20 ms (row 2: an API that takes time of its own, as a remote one does). autocannon in its own process, ${connections} keep-alive connections, ${seconds} s per sample, ${pairs} interleaved pairs after one warm-up pair per row. Ratio = proxy / direct requests per second (median of per-pair ratios, min–max); latencies are the medians of the samples' own p50/p99 (autocannon's 1 ms resolution).`,
    '',
    '| API answers after | proxy req/s | direct req/s | ratio proxy / direct | proxy p50 / p99 ms | direct p50 / p99 ms | load |',
    '|---|---|---|---|---|---|---|',
    ...rows,
    '',
    `Target ratio ≥ 0.5 — ${ratios.join('; ')}. Every answer 2xx; ${refusedByApi} requests refused by the API; ${accessLines.toLocaleString('en-US')} access lines in the daemon's log file.`,
    '',
    ceiling,
  ].join('\n');
  writeResult(
    'api-proxy',
    `npm run build && npx tsx bench/api-proxy.ts ${seconds} ${connections} ${pairs}`,
    markdown,
    data,
  );
  console.log(`uptime after: ${execFileSync('uptime').toString().trim()}`);
} finally {
  clearTimeout(watchdog);
  const code = await serve.stop();
  await api.stop();
  ws.cleanup();
  if (code !== 0) console.error(`serve exited with ${code}: ${serve.log()}`);
}
