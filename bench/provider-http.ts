/**
 * Provider requests: tokenwarden's node:http client (src/oauth/http-client.ts) against
 * openid-client's default, the global fetch (undici). Each sample is its own process: R refresh
 * grants with rotation through the real grant client (openid-client) at concurrency C against the
 * fast token endpoint (its own process). The two run interleaved (ABBA, ≥ 5 pairs); reported:
 * requests/s (per-pair ratio), CPU seconds, major GCs and max resident memory.
 *
 *   npx tsx bench/provider-http.ts [requests=5000] [concurrency=32] [pairs=5]
 */
import { execFileSync } from 'node:child_process';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { FakeClock } from '../src/core/clock.js';
import { parseConfig } from '../src/config/load.js';
import { createGrantClient } from '../src/oauth/grant-client.js';
import { createHttpFetch } from '../src/oauth/http-client.js';
import { DiscoveryCache } from '../src/oauth/discovery-cache.js';
import { resolveProfile } from '../src/providers/index.js';
import { formatLoad, formatRatio, interleaved, median } from './lib/pairs.js';
import { writeResult } from './lib/report.js';
import { forkScaleEndpoint } from './scale-common.js';

interface Result {
  client: string;
  requests: number;
  seconds: number;
  requestsPerSecond: number;
  cpuSeconds: number;
  majorGcs: number;
  minorGcs: number;
  maxRssMB: number;
}

async function runVariant(client: 'node' | 'undici', requests: number, concurrency: number): Promise<Result> {
  const endpoint = await forkScaleEndpoint(import.meta.dirname, 3600);
  const tokenUrl = endpoint.tokenUrl;
  try {
    const config = parseConfig(
      {
        store: 'sqlite:unused.db',
        key: 'env:TW_KEY',
        connections: {
          bench: {
            provider: 'oauth2',
            client_id: 'bench',
            client_secret: 'bench-secret',
            auth_url: tokenUrl.replace('/token', '/authorize'),
            token_url: tokenUrl,
            scopes: ['api'],
          },
        },
      },
      {},
    );
    const conn = config.connections['bench'];
    if (!conn) throw new Error('no connection');
    const httpFetch = createHttpFetch();
    const grants = createGrantClient(conn, resolveProfile(conn), {
      clock: new FakeClock(Date.UTC(2026, 0, 5)),
      discoveryCache: new DiscoveryCache(),
      ...(client === 'node' ? { fetch: httpFetch } : { fetch: globalThis.fetch.bind(globalThis) }),
    });
    let major = 0;
    let minor = 0;
    const obs = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        const kind = (e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind;
        if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) major++;
        else minor++;
      }
    });
    obs.observe({ entryTypes: ['gc'] });
    // Each worker refreshes its own connection name, following the rotation.
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    let started = 0;
    let maxRss = process.memoryUsage.rss();
    const worker = async (w: number): Promise<void> => {
      let rt = `rt.w${w}.0`;
      while (started < requests) {
        started++;
        const t = await grants.refresh(rt);
        rt = t.refreshToken ?? rt;
        if (started % 1000 === 0) maxRss = Math.max(maxRss, process.memoryUsage.rss());
      }
    };
    await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    obs.disconnect();
    httpFetch.close();
    return {
      client: client === 'node' ? 'tokenwarden node:http' : 'global fetch (undici)',
      requests,
      seconds: +seconds.toFixed(2),
      requestsPerSecond: Math.round(requests / seconds),
      cpuSeconds: +((cpu.user + cpu.system) / 1e6).toFixed(2),
      majorGcs: major,
      minorGcs: minor,
      maxRssMB: Math.round(Math.max(maxRss, process.memoryUsage.rss()) / 2 ** 20),
    };
  } finally {
    endpoint.stop();
  }
}

const [variant, reqArg, concArg] = process.argv.slice(2);
if (variant === 'node' || variant === 'undici') {
  const r = await runVariant(variant, Number(reqArg), Number(concArg));
  process.stdout.write(JSON.stringify(r) + '\n');
  process.exit(0);
} else {
  const requests = Number(variant ?? 5_000);
  const concurrency = Number(reqArg ?? 32);
  const pairs = Number(process.argv[4] ?? 5);
  const results: Record<'node' | 'undici', Result[]> = { node: [], undici: [] };
  const sample = (v: 'node' | 'undici') => (): number => {
    const out = execFileSync(
      process.execPath,
      ['--import', 'tsx', new URL(import.meta.url).pathname, v, String(requests), String(concurrency)],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const r = JSON.parse(out.trim().split('\n').pop() as string) as Result;
    results[v].push(r);
    return r.requestsPerSecond;
  };
  const s = await interleaved({ a: sample('node'), b: sample('undici'), pairs, warmup: 0 });
  const row = (rs: Result[]): string => {
    const m = (k: keyof Result): number => median(rs.map((r) => r[k] as number));
    return `| ${rs[0]?.client} | ${Math.round(m('requestsPerSecond')).toLocaleString('en')} | ${m('cpuSeconds').toFixed(1)} | ${m('majorGcs')} | ${m('maxRssMB')} MB |`;
  };
  const cpuRatios = results.node.map((n, i) => n.cpuSeconds / (results.undici[i] as Result).cpuSeconds);
  writeResult(
    'provider-http',
    `npx tsx bench/provider-http.ts ${requests} ${concurrency} ${pairs}`,
    [
      `${requests.toLocaleString('en')} refresh grants with rotation per sample through openid-client at concurrency ${concurrency}, against a fast local token endpoint in its own process; each sample is its own process. ${pairs} interleaved pairs (ABBA). Peer: openid-client's default HTTP client, the global fetch (undici).`,
      '',
      '| client | requests/s | CPU s | major GCs | max RSS |',
      '|---|---|---|---|---|',
      row(results.node),
      row(results.undici),
      '',
      `Requests per second, tokenwarden / global fetch: **${formatRatio(s)}**; CPU seconds per run: ${formatRatio({ ratio: median(cpuRatios), ratioMin: Math.min(...cpuRatios), ratioMax: Math.max(...cpuRatios) })} (${formatLoad(s)}). Medians of the samples.`,
    ].join('\n'),
    { ...s, results },
  );
}
