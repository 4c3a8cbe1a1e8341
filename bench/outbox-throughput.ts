/**
 * Outbox throughput with full durability, side by side with raw pooled nodemailer to the same
 * SMTP server: messages per second at 1 and at 8 concurrent senders, interleaved in ABBA pairs.
 * The product side is what a library caller or the daemon runs: `openWarden` on a SQLite store
 * (synchronous=FULL), `warden.mailbox(name).send()` with the warden's own event sink (events
 * written to the store), the SMTP route with its App Password. Each sample uses a fresh store; a
 * sample ends when the SMTP server has received every message. Beside the rates, each sample
 * records how long the main thread's event loop was busy per message (eventLoopUtilization):
 * the SMTP server peer, nodemailer and, on the product side, composing, sealing and the store's
 * requests all share that thread, so it shows what is left once the store's commits run on its
 * writer thread.
 *
 *   npx tsx bench/outbox-throughput.ts [messages=300] [pairs=5] [concurrency=8]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createTransport } from 'nodemailer';
import { generateKey } from '../src/store/key.js';
import { openWarden } from '../src/warden.js';
import { startSmtpPeer } from '../test/peers/smtp.js';
import { formatLoad, formatRatio, interleaved, median } from './lib/pairs.js';
import { writeResult } from './lib/report.js';

const messages = Number(process.argv[2] ?? 300);
const pairs = Number(process.argv[3] ?? 5);
const concurrency = Number(process.argv[4] ?? 8);
const ADDRESS = 'agent@example.com';
const APP_PASSWORD = 'abcd efgh ijkl mnop';
const smtp = await startSmtpPeer({ passwords: { [ADDRESS]: APP_PASSWORD } });

const msg = (i: number, tag: string): { to: string; subject: string; text: string } => ({
  to: 'bob@example.org',
  subject: `${tag} ${i}`,
  text: `Benchmark message ${i}.\nAll systems nominal.\n`,
});

async function pool(n: number, c: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: c }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

/** Main-thread busy time per message (µs) of each sample, by side and concurrency. */
const busy: Record<string, number[]> = {};
function measureBusy(key: string): () => void {
  const start = performance.eventLoopUtilization();
  return () => {
    (busy[key] ??= []).push((performance.eventLoopUtilization(start).active * 1000) / messages);
  };
}

/** Raw nodemailer, pooled like the SMTP route (src/mail/routes/smtp.ts). */
async function raw(c: number): Promise<number> {
  const t = createTransport({
    pool: true,
    maxConnections: 2,
    host: '127.0.0.1',
    port: smtp.port,
    secure: false,
    auth: { user: ADDRESS, pass: APP_PASSWORD },
    logger: false,
  });
  await t.sendMail({ from: ADDRESS, ...msg(-1, 'warm-up') });
  const before = smtp.received.length;
  const t0 = performance.now();
  const done = measureBusy(`raw${c}`);
  await pool(messages, c, async (i) => {
    await t.sendMail({ from: ADDRESS, ...msg(i, 'raw') });
  });
  await smtp.waitForCount(before + messages, 60_000);
  const rate = messages / ((performance.now() - t0) / 1000);
  done();
  t.close();
  return rate;
}

async function outbox(c: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'tw-bench-outbox-'));
  const w = await openWarden({
    config: {
      store: 'sqlite:state.db',
      key: 'env:K',
      mailboxes: {
        agent: {
          address: ADDRESS,
          send: [
            { smtp: { host: '127.0.0.1', port: smtp.port, secure: false, user: ADDRESS, password: APP_PASSWORD } },
          ],
        },
      },
    },
    baseDir: dir,
    env: { K: generateKey().toString('base64') },
  });
  try {
    const box = w.mailbox('agent');
    await box.send(msg(-1, 'warm-up'));
    const before = smtp.received.length;
    const t0 = performance.now();
    const done = measureBusy(`outbox${c}`);
    await pool(messages, c, async (i) => {
      const r = await box.send(msg(i, 'outbox'));
      if (r.status === 'failed') throw new Error(`outbox send failed: ${r.error}`);
    });
    await smtp.waitForCount(before + messages, 60_000);
    const rate = messages / ((performance.now() - t0) / 1000);
    done();
    return rate;
  } finally {
    await w.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const rows: string[] = [];
const busyRows: string[] = [];
const data: Record<string, unknown> = {};
for (const c of [1, concurrency]) {
  const s = await interleaved({ a: () => outbox(c), b: () => raw(c), pairs, warmup: 1 });
  rows.push(`| ${c} | ${Math.round(s.a)} | ${Math.round(s.b)} | **${formatRatio(s)}** | ${formatLoad(s)} |`);
  // The warm-up samples are measured too: drop them.
  const a = (busy[`outbox${c}`] ?? []).slice(1);
  const b = (busy[`raw${c}`] ?? []).slice(1);
  busyRows.push(
    `| ${c} | ${Math.round(median(a))} µs | ${Math.round(median(b))} µs | ${(median(a) / median(b)).toFixed(2)}× |`,
  );
  data[`c${c}`] = { ...s, samplesA: undefined, samplesB: undefined, busyUsPerMessage: { outbox: a, raw: b } };
}
await smtp.stop();
writeResult(
  'outbox-throughput',
  `npx tsx bench/outbox-throughput.ts ${messages} ${pairs} ${concurrency}`,
  [
    `${messages} messages per sample, ${pairs} interleaved pairs per row. Product: \`mailbox.send()\` through the durable outbox (SQLite synchronous=FULL, commits on the store's writer thread, events written to the store, as the daemon does); peer: raw pooled nodemailer to the same local SMTP server. Ratio = outbox / raw messages per second (median of per-pair ratios, min–max).`,
    '',
    '| concurrent senders | outbox msg/s | raw nodemailer msg/s | ratio | load |',
    '|---|---|---|---|---|',
    ...rows,
    '',
    'Main-thread event loop busy per message (median of the same samples; the SMTP server peer runs on that thread too):',
    '',
    '| concurrent senders | outbox | raw nodemailer | outbox / raw |',
    '|---|---|---|---|',
    ...busyRows,
  ].join('\n'),
  data,
);
