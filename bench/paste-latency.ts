/**
 * Paste-to-stored latency of human-assisted re-authorization: from the human's
 * chat message reaching the Bot API server to the new tokens committed in the store, over
 * real peers on loopback (oidc-provider, a long-polling Telegram Bot API server) and the real
 * daemon (`startDaemon`: Telegram long poll → orchestrator → code exchange → SQLite commit).
 *
 * Side by side in the same run: the common approach, a watcher that calls `getUpdates` every
 * 2 s on a second bot and hands what it finds to the same exchange path. Pastes arrive at random
 * phases of its 2 s cycle, as a human's would. Target: long poll p99 ≤ 50 ms.
 *
 *   npm run build && npx tsx bench/paste-latency.ts [flows=200]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startDaemon } from '../src/daemon.js';
import type { WardenEvent } from '../src/core/types.js';
import { writeKeyFile } from '../src/store/key.js';
import { startOidcProvider } from '../test/peers/oidc-provider.js';
import { DEFAULT_USER_ID, startTelegramPeer } from '../test/peers/telegram.js';

const f = (x: number): string => x.toFixed(1);
const FLOWS = Number(process.argv[2] ?? 200);
const BATCH = 40; // connections asked at once in the watcher run (one open flow per connection)
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

// Time the provider's share (token endpoint round trips) to report it separately.
let providerMs = 0;
const timedFetch: typeof fetch = async (input, init) => {
  const t0 = performance.now();
  try {
    return await fetch(input, init);
  } finally {
    if (String(input instanceof Request ? input.url : input).endsWith('/token')) providerMs += performance.now() - t0;
  }
};

const daemon = await startDaemon({
  configPath,
  listen: '127.0.0.1:0',
  fetch: timedFetch,
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
for (let i = 0; i < FLOWS + 10; i++) {
  const { flowId, finalUrl } = await prepare('c0');
  const done = whenCommitted(flowId);
  providerMs = 0;
  const t0 = performance.now();
  await tgLong.userSays(finalUrl);
  const t1 = await done;
  if (i >= 10) {
    // The first 10 warm up (JIT, discovery cache).
    longPoll.push(t1 - t0);
    longProvider.push(providerMs);
  }
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
for (let done = 0; done < FLOWS; done += BATCH) {
  const n = Math.min(BATCH, FLOWS - done);
  const prepared = await Promise.all(Array.from({ length: n }, (_, i) => prepare(`c${i}`)));
  await Promise.all(
    prepared.map(async ({ flowId, finalUrl }) => {
      await new Promise((r) => setTimeout(r, Math.random() * WATCH_EVERY_MS)); // a random phase of the cycle
      const committedAt = whenCommitted(flowId);
      const t0 = performance.now();
      await tgPoll.userSays(finalUrl);
      interval.push((await committedAt) - t0);
    }),
  );
}
watching = false;
await watcher;

const lp = stats(longPoll);
const pv = stats(longProvider);
const own = stats(longPoll.map((x, i) => x - (longProvider[i] ?? 0)));
const iv = stats(interval);
console.log(`paste-to-stored latency, ${FLOWS} flows each, loopback, Node ${process.version}`);
console.log('| capture | flows | p50 ms | p99 ms | max ms |');
console.log('|---|---|---|---|---|');
console.log(`| long poll (tokenwarden serve) | ${lp.n} | ${f(lp.p50)} | ${f(lp.p99)} | ${f(lp.max)} |`);
console.log(`| … of which token endpoint RTT (oidc-provider) | ${pv.n} | ${f(pv.p50)} | ${f(pv.p99)} | ${f(pv.max)} |`);
console.log(
  `| … long poll minus token endpoint RTT, per flow | ${own.n} | ${f(own.p50)} | ${f(own.p99)} | ${f(own.max)} |`,
);
console.log(`| getUpdates every 2 s | ${iv.n} | ${f(iv.p50)} | ${f(iv.p99)} | ${f(iv.max)} |`);
console.log(
  `target p99 <= 50 ms: ${lp.p99 <= 50 ? 'met' : 'missed'} end to end; ${own.p99 <= 50 ? 'met' : 'missed'} excluding the provider's RTT`,
);

await daemon.close();
await tgLong.stop();
await tgPoll.stop();
await oidc.stop();
rmSync(dir, { recursive: true, force: true });
