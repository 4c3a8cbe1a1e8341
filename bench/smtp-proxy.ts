/**
 * Local SMTP proxy for password-only clients, side by side with the same client sending
 * straight to the provider's server. Product: nodemailer (pooled, AUTH PLAIN with the proxy
 * password) → the `proxies:` SMTP listener of `tokenwarden serve` (a child process of the
 * built CLI, real SQLite store) → the mailbox's durable outbox → its SMTP route with an App
 * Password → the upstream SMTP server (smtp-server on 127.0.0.1, records every message).
 * Peer: the same nodemailer client, same pool and concurrency, straight to that upstream with
 * the App Password. Interleaved in ABBA pairs.
 *
 * The proxy answers 250 once the message is in the outbox, before delivery, so each sample
 * measures both: "accepted" (every sendMail resolved) and "delivered" (the upstream holds
 * every message). The ratio uses delivered throughput; the accepted ratio is shown too.
 *
 *   npm run build && npx tsx bench/smtp-proxy.ts [messages=200] [pairs=5] [concurrency=8]
 *
 * Two rows: 1 sender (the latency a lone client sees) and `concurrency` senders (throughput).
 */
import { execFileSync } from 'node:child_process';
import { createTransport, type Transporter } from 'nodemailer';
import { freePort } from '../test/daemon/helpers.js';
import { makeWorkspace } from '../test/helpers/workspace.js';
import { startSmtpPeer } from '../test/peers/smtp.js';
import { formatLoad, formatRatio, interleaved, median, percentile } from './lib/pairs.js';
import { writeResult } from './lib/report.js';
import { startServeProcess } from './lib/serve-process.js';

const messages = Number(process.argv[2] ?? 200);
const LIMIT_MIN = 10;
const pairs = Number(process.argv[3] ?? 5);
const concurrencyHigh = Number(process.argv[4] ?? 8);
const MAX_CONNECTIONS = 4;
const ADDRESS = 'agent@example.com';
const APP_PASSWORD = 'abcd efgh ijkl mnop';
const PROXY_PASSWORD = 'local-proxy-bench-secret-5c1e';

const smtp = await startSmtpPeer({ passwords: { [ADDRESS]: APP_PASSWORD } });
const proxyPort = await freePort();
const ws = makeWorkspace({
  server: { listen: '127.0.0.1:0' },
  mailboxes: {
    agent: {
      address: ADDRESS,
      send: [{ smtp: { host: smtp.host, port: smtp.port, secure: false, user: ADDRESS, password: APP_PASSWORD } }],
    },
  },
  proxies: {
    legacy: { protocol: 'smtp', listen: `127.0.0.1:${proxyPort}`, mailbox: 'agent', password: PROXY_PASSWORD },
  },
});
const serve = await startServeProcess(ws);
// Bounded in time: a run that hangs stops the daemon and exits rather than waiting forever.
const watchdog = setTimeout(() => {
  console.error(`bench: over ${LIMIT_MIN} minutes, stopping`);
  serve.child.kill('SIGKILL');
  ws.cleanup();
  process.exit(2);
}, LIMIT_MIN * 60_000);
watchdog.unref();
{
  const line = `Mail proxy legacy (smtp) on 127.0.0.1:${proxyPort}`;
  const deadline = Date.now() + 30_000;
  while (!serve.stdout().includes(line)) {
    if (Date.now() > deadline) throw new Error(`no proxy line from serve: ${serve.stdout()} ${serve.log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Sample {
  /** Messages per second until every sendMail resolved (250 from the server it talks to). */
  accepted: number;
  /** Messages per second until the upstream held every message. */
  delivered: number;
  /** Per message, ms from sendMail to 250 / to the upstream holding it. */
  acceptMs: number[];
  deliverMs: number[];
}
let seq = 0;

function client(port: number, pass: string): Transporter {
  return createTransport({
    pool: true,
    maxConnections: MAX_CONNECTIONS,
    host: '127.0.0.1',
    port,
    secure: false,
    auth: { user: ADDRESS, pass, method: 'PLAIN' },
    logger: false,
  });
}

async function sample(port: number, pass: string, tag: string, concurrency: number, into: Sample[]): Promise<number> {
  const t = client(port, pass);
  try {
    // Open the pool's first connection outside the timing, as a long-running client would have it;
    // the warm-up message is through (the proxy delivers after its 250) before the clock starts.
    const pre = smtp.received.length;
    await t.sendMail({ from: ADDRESS, to: 'bob@example.org', subject: 'warm-up', text: 'warm-up\n' });
    await smtp.waitForCount(pre + 1, 60_000);
    const base = pre + 1;
    const sentAt = new Map<string, number>();
    const deliveredAt = new Map<string, number>();
    const acceptMs: number[] = [];
    const arrivals = Array.from({ length: messages }, (_, k) =>
      smtp.waitForCount(base + k + 1, 120_000).then(() => {
        const id = smtp.received[base + k]?.messageId ?? '';
        deliveredAt.set(id, performance.now());
      }),
    );
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < messages) {
          const i = next++;
          const id = `<bench-${tag}-${++seq}@example.com>`;
          const s = performance.now();
          sentAt.set(id, s);
          await t.sendMail({
            from: ADDRESS,
            to: 'bob@example.org',
            messageId: id,
            subject: `${tag} ${i}`,
            text: `Benchmark message ${i}.\nAll systems nominal.\n`,
          });
          acceptMs.push(performance.now() - s);
        }
      }),
    );
    const acceptedEnd = performance.now();
    await Promise.all(arrivals);
    const deliveredEnd = Math.max(...deliveredAt.values());
    const deliverMs = [...sentAt].map(([id, s]) => {
      const d = deliveredAt.get(id);
      if (d === undefined) throw new Error(`${id} was not delivered`);
      return d - s;
    });
    const x: Sample = {
      accepted: messages / ((acceptedEnd - t0) / 1000),
      delivered: messages / ((deliveredEnd - t0) / 1000),
      acceptMs,
      deliverMs,
    };
    into.push(x);
    return x.delivered;
  } finally {
    t.close();
  }
}

console.log(`uptime before: ${execFileSync('uptime').toString().trim()}`);
const pct = (xs: number[], p: number): string => percentile(xs, p).toFixed(1);
const rows: string[] = [];
const notes: string[] = [];
const data: Record<string, unknown> = {};
let load = '';
try {
  for (const concurrency of [1, concurrencyHigh]) {
    const samples: { proxy: Sample[]; direct: Sample[] } = { proxy: [], direct: [] };
    const s = await interleaved({
      a: () => sample(proxyPort, PROXY_PASSWORD, 'proxy', concurrency, samples.proxy),
      b: () => sample(smtp.port, APP_PASSWORD, 'direct', concurrency, samples.direct),
      pairs,
      warmup: 1,
    });
    const P = samples.proxy.slice(1); // the first sample of each side is the warm-up
    const D = samples.direct.slice(1);
    const acceptedRatios = P.map((p, i) => p.accepted / (D[i] as Sample).accepted);
    const acc = {
      ratio: median(acceptedRatios),
      ratioMin: Math.min(...acceptedRatios),
      ratioMax: Math.max(...acceptedRatios),
    };
    const all = (xs: Sample[], k: 'acceptMs' | 'deliverMs'): number[] => xs.flatMap((x) => x[k]);
    const rate = (xs: Sample[], k: 'accepted' | 'delivered'): number => Math.round(median(xs.map((x) => x[k])));
    const lat = { proxyAccept: all(P, 'acceptMs'), proxyDeliver: all(P, 'deliverMs'), direct: all(D, 'deliverMs') };
    const added = (p: number): string => (percentile(lat.proxyDeliver, p) - percentile(lat.direct, p)).toFixed(1);
    rows.push(
      `| ${concurrency} | ${rate(P, 'accepted')} / ${rate(P, 'delivered')} | ${rate(D, 'delivered')} | ${formatRatio(acc)} | **${formatRatio(s)}** | ${pct(lat.proxyAccept, 50)} / ${pct(lat.proxyAccept, 99)} | ${pct(lat.proxyDeliver, 50)} / ${pct(lat.proxyDeliver, 99)} | ${pct(lat.direct, 50)} / ${pct(lat.direct, 99)} | +${added(50)} / +${added(99)} | ${formatLoad(s)} |`,
    );
    data[`c${concurrency}`] = {
      ...s,
      samplesA: undefined,
      samplesB: undefined,
      acceptedRatio: acc,
      proxy: samples.proxy.map(({ accepted, delivered }) => ({ accepted, delivered })),
      direct: samples.direct.map(({ accepted, delivered }) => ({ accepted, delivered })),
      latencyMs: Object.fromEntries(
        Object.entries(lat).map(([k, xs]) => [k, { p50: percentile(xs, 50), p99: percentile(xs, 99) }]),
      ),
    };
    load = formatLoad(s);
  }
  // Every message reached the upstream exactly once, through the App Password login.
  const ids = smtp.received.map((m) => m.messageId).filter((id) => id?.startsWith('<bench-'));
  if (new Set(ids).size !== ids.length) throw new Error('a message was delivered twice');
  const viaProxy = smtp.received.filter((m) => m.messageId?.startsWith('<bench-proxy-'));
  if (viaProxy.some((m) => m.user !== ADDRESS || m.envelope.from !== ADDRESS))
    throw new Error('a proxied message reached the upstream without the App Password login');
  notes.push(`${ids.length} messages delivered, none twice. Last row's ${load}.`);
  const markdown = [
    `\`tokenwarden serve\` runs as a child process of the built CLI, its log written to a file (real SQLite store, outbox with synchronous=FULL, events written to the store). Client: nodemailer, pooled (${MAX_CONNECTIONS} connections), AUTH PLAIN; ${messages} messages per sample, ${pairs} interleaved pairs after one warm-up pair per row. Product: client → SMTP proxy (proxy password only) → outbox → SMTP route with an App Password → upstream smtp-server on 127.0.0.1. Peer: the same client straight to the upstream with the App Password. The proxy answers 250 once the message is sealed in the outbox, before delivery: "accepted" ends when every sendMail has its 250, "delivered" when the upstream holds every message. **The ratio in bold uses delivered throughput** (proxy / direct, median of per-pair ratios, min–max). Latencies are per message from sendMail, over all measured messages of each side; "added" is proxy delivered minus direct.`,
    '',
    '| concurrent senders | proxy accepted / delivered msg/s | direct msg/s | accepted ratio | delivered ratio | proxy 250 p50 / p99 ms | proxy delivered p50 / p99 ms | direct p50 / p99 ms | added p50 / p99 ms | load |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...rows,
    '',
    ...notes,
  ].join('\n');
  writeResult(
    'smtp-proxy',
    `npm run build && npx tsx bench/smtp-proxy.ts ${messages} ${pairs} ${concurrencyHigh}`,
    markdown,
    data,
  );
  console.log(`uptime after: ${execFileSync('uptime').toString().trim()}`);
} finally {
  clearTimeout(watchdog);
  const code = await serve.stop();
  await smtp.stop();
  ws.cleanup();
  if (code !== 0) console.error(`serve exited with ${code}: ${serve.log()}`);
}
