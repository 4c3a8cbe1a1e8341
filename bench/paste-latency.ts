/**
 * Paste-to-stored latency of human-assisted re-authorization: from the human's chat message
 * reaching the Bot API server to the new tokens committed in the store, over real peers on
 * loopback (oidc-provider, a long-polling Telegram Bot API server) and the real daemon
 * (`startDaemon`: Telegram long poll → orchestrator → code exchange → SQLite commit).
 *
 * Compared with (1) the physical limit, the provider's own token-endpoint round trip inside the
 * same flow (timed around the daemon's own provider client), and (2) the common approach, a
 * watcher calling `getUpdates` every 2 s on a second bot and handing what it finds to the same
 * exchange path (pastes at random phases of its cycle, as a human's would). Long-poll flows and
 * watcher batches run interleaved (ABBA, ≥ 5 pairs). Target: long poll p99 ≤ 50 ms.
 *
 *   npx tsx bench/paste-latency.ts [flows=200] [pairs=5]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startDaemon } from '../src/daemon.js';
import type { WardenEvent } from '../src/core/types.js';
import { createHttpFetch } from '../src/oauth/http-client.js';
import { writeKeyFile } from '../src/store/key.js';
import { startOidcProvider } from '../test/peers/oidc-provider.js';
import { DEFAULT_USER_ID, startTelegramPeer } from '../test/peers/telegram.js';
import { formatLoad, formatRatio, interleaved, median } from './lib/pairs.js';
import { writeResult } from './lib/report.js';

const f = (x: number): string => x.toFixed(1);
const FLOWS = Number(process.argv[2] ?? 200);
const PAIRS = Number(process.argv[3] ?? 5);
const PER_BLOCK = Math.max(1, Math.round(FLOWS / PAIRS)); // flows per sample, each side
const BATCH = Math.min(40, PER_BLOCK); // connections asked at once in a watcher sample (one open flow per connection)
const WATCH_EVERY_MS = 2_000;
const REDIRECT = 'http://127.0.0.1:9/oauth/callback';

const oidc = await startOidcProvider({ redirectUris: [REDIRECT], accessTokenTtl: 3600, refreshTokenTtl: 86400 });
const tgLong = await startTelegramPeer();
const tgPoll = await startTelegramPeer();
const dir = mkdtempSync(join(tmpdir(), 'tw-bench-paste-'));
writeKeyFile(join(dir, '.tokenwarden/key'));
const configPath = join(dir, 'tokenwarden.yaml');
const connections: Record<string, unknown> = {};
for (let i = 0; i < BATCH; i++)
  connections[`c${i}`] = {
    provider: 'oidc',
    issuer: oidc.issuer,
    client_id: oidc.clientId,
    client_secret: oidc.clientSecret,
    redirect_uri: REDIRECT,
    scopes: ['openid', 'offline_access', 'api:read'],
    flow: 'auth_code',
  };
writeFileSync(
  configPath,
  stringify({
    channels: {
      ops: {
        type: 'telegram',
        bot_token: tgLong.token,
        chat_id: DEFAULT_USER_ID,
        allow_from: [DEFAULT_USER_ID],
        api_root: tgLong.apiRoot,
      },
    },
    connections,
  }),
);

// Time the provider's share (token endpoint round trips) around the daemon's own provider client.
let providerMs = 0;
const providerClient = createHttpFetch();
const timedFetch: typeof fetch = async (input, init) => {
  const t0 = performance.now();
  try {
    return await providerClient(input, init);
  } finally {
    if (String(input instanceof Request ? input.url : input).endsWith('/token')) providerMs += performance.now() - t0;
  }
};

const daemon = await startDaemon({
  configPath,
  listen: '127.0.0.1:0',
  providerFetch: timedFetch,
  scheduler: { probeIntervalMs: 0 },
});
const { warden, orchestrator } = daemon;
await tgLong.waitForParkedPolls(1);

/** Resolves (with performance.now()) when the flow's tokens are committed. */
const committed = new Map<string, (t: number) => void>();
warden.events.on('event', (e: WardenEvent) => {
  const id = e.type === 'reauth_completed' ? (e.data?.['flowId'] as string | undefined) : undefined;
  if (id) committed.get(id)?.(performance.now());
});
const whenCommitted = (flowId: string): Promise<number> => new Promise((r) => committed.set(flowId, r));

async function prepare(conn: string): Promise<{ flowId: string; finalUrl: string }> {
  const flow = await orchestrator.requestReauth(conn, { reason: 'manual', fresh: true });
  return { flowId: flow.id, finalUrl: await oidc.approveAuthorization(flow.url) };
}

function stats(xs: number[]): { n: number; p50: number; p99: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] as number;
  return { n: s.length, p50: at(0.5), p99: at(0.99), max: s[s.length - 1] as number };
}

// ---- long poll (the daemon) ----
const longPoll: number[] = [];
const longProvider: number[] = [];
const providerRatios: number[] = [];
async function longPollFlow(): Promise<{ total: number; provider: number }> {
  const { flowId, finalUrl } = await prepare('c0');
  const done = whenCommitted(flowId);
  providerMs = 0;
  const t0 = performance.now();
  await tgLong.userSays(finalUrl);
  return { total: (await done) - t0, provider: providerMs };
}
/** One sample: PER_BLOCK sequential flows; returns their median paste-to-stored time. */
async function longPollBlock(): Promise<number> {
  const total: number[] = [];
  const provider: number[] = [];
  for (let i = 0; i < PER_BLOCK; i++) {
    const r = await longPollFlow();
    total.push(r.total);
    provider.push(r.provider);
  }
  longPoll.push(...total);
  longProvider.push(...provider);
  providerRatios.push(median(total) / median(provider));
  return median(total);
}

// ---- the common approach: getUpdates every 2 s ----
let offset = 0;
let watching = true;
const watcher = (async () => {
  while (watching) {
    const res = await fetch(`${tgPoll.apiRoot}/bot${tgPoll.token}/getUpdates`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ offset, timeout: 0 }),
    });
    const body = (await res.json()) as { result: Array<{ update_id: number; message?: { text?: string } }> };
    for (const u of body.result) {
      offset = u.update_id + 1;
      if (u.message?.text) void orchestrator.complete(u.message.text, { via: 'watcher' }).catch(() => undefined);
    }
    await new Promise((r) => setTimeout(r, WATCH_EVERY_MS));
  }
})();
const interval: number[] = [];
/** One sample: PER_BLOCK flows pasted at random phases of the watcher's cycle; returns their median. */
async function watcherBlock(): Promise<number> {
  const block: number[] = [];
  for (let done = 0; done < PER_BLOCK; done += BATCH) {
    const n = Math.min(BATCH, PER_BLOCK - done);
    const prepared = await Promise.all(Array.from({ length: n }, (_, i) => prepare(`c${i}`)));
    await Promise.all(
      prepared.map(async ({ flowId, finalUrl }) => {
        await new Promise((r) => setTimeout(r, Math.random() * WATCH_EVERY_MS)); // a random phase of the cycle
        const committedAt = whenCommitted(flowId);
        const t0 = performance.now();
        await tgPoll.userSays(finalUrl);
        block.push((await committedAt) - t0);
      }),
    );
  }
  interval.push(...block);
  return median(block);
}

// The first 10 long-poll flows warm up (JIT, discovery cache).
for (let i = 0; i < 10; i++) await longPollFlow();
const s = await interleaved({ a: longPollBlock, b: watcherBlock, pairs: PAIRS, warmup: 0 });
watching = false;
await watcher;

const lp = stats(longPoll);
const pv = stats(longProvider);
const own = stats(longPoll.map((x, i) => x - (longProvider[i] ?? 0)));
const iv = stats(interval);
const row = (label: string, x: ReturnType<typeof stats>): string =>
  `| ${label} | ${x.n} | ${f(x.p50)} | ${f(x.p99)} | ${f(x.max)} |`;
writeResult(
  'paste-latency',
  `npx tsx bench/paste-latency.ts ${FLOWS} ${PAIRS}`,
  [
    `From the human's message reaching the Bot API server to the new tokens committed in the store. Real oidc-provider (authorization code + PKCE, ID token verified), a long-polling Telegram Bot API server and the daemon (\`startDaemon\`, SQLite store), all on 127.0.0.1. ${PAIRS} interleaved pairs (ABBA) of ${PER_BLOCK} flows per side; the token endpoint round trip is timed around the daemon's own provider client inside each flow. Left out on purpose: the scheduler's periodic grant probes (they would add requests to the provider during the measurement).`,
    '',
    '| capture | flows | p50 ms | p99 ms | max ms |',
    '|---|---|---|---|---|',
    row('long poll (the daemon)', lp),
    row('… of which the token endpoint round trip (oidc-provider)', pv),
    row('… long poll minus the token endpoint round trip, per flow', own),
    row('a watcher calling getUpdates every 2 s', iv),
    '',
    `Paste-to-stored / the provider's token endpoint round trip, per pair: **${ratioText(providerRatios)}**. Long poll / getUpdates watcher, per pair: **${formatRatio(s)}** (${formatLoad(s)}). Target p99 ≤ 50 ms: ${lp.p99 <= 50 ? 'met' : '**not met**'} end to end; ${own.p99 <= 50 ? 'met' : '**not met**'} without the provider's round trip.`,
  ].join('\n'),
  { longPoll: lp, provider: pv, own, watcher: iv, providerRatios, pairs: s },
);

function ratioText(rs: number[]): string {
  return formatRatio({ ratio: median(rs), ratioMin: Math.min(...rs), ratioMax: Math.max(...rs) });
}

await daemon.close();
providerClient.close();
await tgLong.stop();
await tgPoll.stop();
await oidc.stop();
rmSync(dir, { recursive: true, force: true });
