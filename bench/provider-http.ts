/**
 * Provider requests: tokenwarden's node:http client (src/oauth/http-client.ts) against the global
 * fetch (undici), side by side. Each variant runs in its own process: R refresh grants with
 * rotation through the real grant client (openid-client) at concurrency C against the fast
 * token endpoint (its own process). Reports requests/s, CPU, major GCs and max resident memory.
 *
 *   npx tsx bench/provider-http.ts [requests=40000] [concurrency=32]
 */
import { execFileSync } from 'node:child_process';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { FakeClock } from '../src/core/clock.js';
import { parseConfig } from '../src/config/load.js';
import { createGrantClient } from '../src/oauth/grant-client.js';
import { createHttpFetch } from '../src/oauth/http-client.js';
import { DiscoveryCache } from '../src/oauth/discovery-cache.js';
import { resolveProfile } from '../src/providers/index.js';
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
  const requests = Number(variant ?? 40_000);
  const concurrency = Number(reqArg ?? 32);
  const results: Result[] = [];
  for (const v of ['undici', 'node'] as const) {
    const out = execFileSync(
      process.execPath,
      ['--import', 'tsx', new URL(import.meta.url).pathname, v, String(requests), String(concurrency)],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
    );
    results.push(JSON.parse(out.trim().split('\n').pop() as string) as Result);
  }
  console.table(results);
  const [u, n] = results as [Result, Result];
  console.log(
    `node:http vs undici: ${(n.requestsPerSecond / u.requestsPerSecond).toFixed(2)}× requests/s, ` +
      `${(u.cpuSeconds / n.cpuSeconds).toFixed(2)}× less CPU, major GCs ${n.majorGcs} vs ${u.majorGcs}, ` +
      `max RSS ${n.maxRssMB} vs ${u.maxRssMB} MB`,
  );
}
