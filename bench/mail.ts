/**
 * Mail benchmarks, all on loopback against the test peers, with a real
 * SQLite store (`openStore`, generated key):
 *
 *   failover    OAuth route fails (Gmail fake answers 401 / TokenSource throws
 *               ReauthRequiredError) → message accepted by the SMTP peer; p50/p99
 *   throughput  N messages to a pooled local SMTP server: raw nodemailer pooled sendMail vs
 *               mailbox.send, sequential and concurrent, same run
 *   soak        ≥ 1,000 messages from a child killed with SIGKILL at random instants and
 *               restarted until every message is acknowledged; lost and copies per Message-ID
 *
 *   npx tsx bench/mail.ts [all|failover|throughput|soak] [--samples 200] [--messages 2000]
 *       [--concurrency 8] [--soak-messages 1000] [--soak-concurrency 4] [--kill-max-ms 1500]
 *       [--max-lives 400] [--tmp-dir DIR] [--json]
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTransport } from 'nodemailer';
import { systemClock } from '../src/core/clock.js';
import { ReauthRequiredError } from '../src/core/errors.js';
import type { TokenSource } from '../src/core/types.js';
import type { MailService } from '../src/mail/index.js';
import { generateKey } from '../src/store/key.js';
import type { Store } from '../src/store/types.js';
import { startGmailFake, type GmailFake } from '../test/peers/gmail-fake.js';
import { startSmtpPeer } from '../test/peers/smtp.js';
import { ADDRESS, APP_PASSWORD, buildService, openBenchStore, smtpRoute } from './mail-common.js';

// ---------------------------------------------------------------- args
const argv = process.argv.slice(2);
const what = argv[0] && !argv[0].startsWith('--') ? argv[0] : 'all';
const flag = (name: string, dflt: number): number => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : dflt;
};
const tmpBase = ((): string => {
  const i = argv.indexOf('--tmp-dir');
  return i >= 0 ? (argv[i + 1] as string) : tmpdir();
})();
const asJson = argv.includes('--json');
const log = (s: string): void => {
  process.stderr.write(`  ${s}\n`);
};

const TOKEN = 'ya29.bench-access-token-0123456789';
const msg = (i: number, tag: string): { to: string; subject: string; text: string } => ({
  to: 'bob@example.org',
  subject: `${tag} ${i}`,
  text: `Benchmark message ${i}.\nAll systems nominal.\n`,
});

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return +(s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] as number).toFixed(2);
}
const summary = (xs: number[]): { n: number; p50: number; p99: number; max: number } => ({
  n: xs.length,
  p50: pct(xs, 50),
  p99: pct(xs, 99),
  max: pct(xs, 100),
});

/** A fresh SQLite store in its own directory. */
async function freshStore(
  synchronous?: 'full' | 'normal',
): Promise<{ store: Store; dir: string; done: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpBase, 'tw-mail-bench-'));
  const store = await openBenchStore(dir, generateKey(), synchronous);
  return {
    store,
    dir,
    done: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------- 1. failover latency
interface FailoverRow {
  failure: string;
  circuit: string;
  failToAcceptedMs: ReturnType<typeof summary>;
  sendCallMs: ReturnType<typeof summary>;
}

async function failover(samples: number): Promise<FailoverRow[]> {
  let tFail = 0;
  let tAccepted = 0;
  const smtp = await startSmtpPeer({
    passwords: { [ADDRESS]: APP_PASSWORD },
    beforeReply: async (stage) => {
      // The message is recorded; the 250 goes out right after this.
      if (stage === 'data') tAccepted = performance.now();
    },
  });
  const gmail: GmailFake = await startGmailFake({ verifyToken: async (t) => t === TOKEN });
  gmail.force('401');
  const spyFetch: typeof fetch = async (url, init) => {
    const res = await fetch(url, init);
    if (res.status === 401) tFail = performance.now();
    return res;
  };
  const tokens401: TokenSource = { accessToken: async () => TOKEN };
  const tokensRevoked: TokenSource = {
    accessToken: async (conn) => {
      tFail = performance.now();
      throw new ReauthRequiredError(
        conn,
        { id: 'revoked', summary: 'The grant was revoked.', fix: 'Re-authorize.' },
        { reauth: { askedVia: [] } },
      );
    },
  };
  const send = [{ gmail: { connection: 'gmail', api_base: gmail.url } }, smtpRoute(smtp.port)];
  const rows: FailoverRow[] = [];
  const { store, done } = await freshStore();
  let seq = 0;
  const one = async (svc: MailService, expectFail: boolean): Promise<{ failToAccepted: number; call: number }> => {
    tFail = 0;
    tAccepted = 0;
    const t0 = performance.now();
    const r = await svc.mailbox('agent').send(msg(seq++, 'failover'));
    const t1 = performance.now();
    if (r.status !== 'sent' || !r.route?.startsWith('smtp:'))
      throw new Error(`failover send not sent over SMTP: ${JSON.stringify(r)}`);
    if (expectFail && tFail === 0) throw new Error('the OAuth route was not tried');
    return { failToAccepted: tAccepted - (expectFail ? tFail : t0), call: t1 - t0 };
  };
  try {
    for (const [failure, tokens] of [
      ['Gmail answers 401', tokens401],
      ['TokenSource throws ReauthRequiredError', tokensRevoked],
    ] as const) {
      // (a) First failure seen by a fresh service: the SMTP pool connects, greets and authenticates on demand.
      {
        const a: number[] = [];
        const c: number[] = [];
        for (let i = 0; i < samples; i++) {
          const svc = buildService({
            store,
            clock: systemClock,
            tokens,
            owner: `bench-${i}`,
            send,
            gmail: true,
            fetch: spyFetch,
          });
          try {
            const s = await one(svc, true);
            a.push(s.failToAccepted);
            c.push(s.call);
          } finally {
            await svc.stop();
          }
        }
        rows.push({
          failure,
          circuit: 'first failure, fresh service (SMTP connects on demand)',
          failToAcceptedMs: summary(a),
          sendCallMs: summary(c),
        });
      }
      // (b) Every send meets the failure: circuit cool-down 0, so each send tries the OAuth route again; SMTP pool warm.
      {
        const svc = buildService({
          store,
          clock: systemClock,
          tokens,
          owner: 'bench-warm',
          send,
          gmail: true,
          fetch: spyFetch,
          options: { circuit: { coolDownMs: 0, maxCoolDownMs: 0 } },
        });
        const a: number[] = [];
        const c: number[] = [];
        try {
          for (let i = 0; i < samples + 10; i++) {
            const s = await one(svc, true);
            if (i < 10) continue; // warm-up
            a.push(s.failToAccepted);
            c.push(s.call);
          }
        } finally {
          await svc.stop();
        }
        rows.push({
          failure,
          circuit: 'each send hits the failure (cool-down 0), SMTP pool warm',
          failToAcceptedMs: summary(a),
          sendCallMs: summary(c),
        });
      }
      // (c) For reference: circuit already open (default 60 s cool-down), the OAuth route is skipped.
      {
        const svc = buildService({
          store,
          clock: systemClock,
          tokens,
          owner: 'bench-open',
          send,
          gmail: true,
          fetch: spyFetch,
        });
        const a: number[] = [];
        const c: number[] = [];
        try {
          await one(svc, true); // opens the circuit
          for (let i = 0; i < samples; i++) {
            const s = await one(svc, false);
            a.push(s.failToAccepted);
            c.push(s.call);
          }
        } finally {
          await svc.stop();
        }
        rows.push({
          failure,
          circuit: 'circuit already open: OAuth route skipped (send() start → accepted)',
          failToAcceptedMs: summary(a),
          sendCallMs: summary(c),
        });
      }
      log(`failover: ${failure} done`);
    }
    return rows;
  } finally {
    await done();
    await gmail.stop();
    await smtp.stop();
  }
}

// ---------------------------------------------------------------- 2. throughput
interface ThroughputRow {
  mode: string;
  concurrency: number;
  messages: number;
  seconds: number;
  perSecond: number;
}

async function pool(n: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

async function throughput(
  n: number,
  concurrency: number,
): Promise<{ rows: ThroughputRow[]; ratios: Record<string, number> }> {
  const smtp = await startSmtpPeer({ passwords: { [ADDRESS]: APP_PASSWORD } });
  const rows: ThroughputRow[] = [];
  const deadline = Date.now() + 10 * 60_000;
  try {
    const raw = async (c: number): Promise<void> => {
      // Same pool settings as the SMTP route (src/mail/routes/smtp.ts).
      const t = createTransport({
        pool: true,
        maxConnections: 2,
        host: '127.0.0.1',
        port: smtp.port,
        secure: false,
        auth: { user: ADDRESS, pass: APP_PASSWORD },
        logger: false,
      });
      const before = smtp.received.length;
      await t.sendMail({ from: ADDRESS, ...msg(-1, 'warm-up') });
      const t0 = performance.now();
      await pool(n, c, async (i) => {
        await t.sendMail({ from: ADDRESS, ...msg(i, 'raw') });
      });
      const s = (performance.now() - t0) / 1000;
      t.close();
      if (smtp.received.length - before !== n + 1) throw new Error('raw: message count mismatch');
      rows.push({
        mode: 'raw nodemailer pooled sendMail',
        concurrency: c,
        messages: n,
        seconds: +s.toFixed(2),
        perSecond: Math.round(n / s),
      });
      log(`throughput: raw c=${c}: ${Math.round(n / s)}/s`);
    };
    const outbox = async (c: number, sync: 'full' | 'normal'): Promise<void> => {
      const { store, done } = await freshStore(sync);
      const svc = buildService({
        store,
        clock: systemClock,
        tokens: { accessToken: () => Promise.reject(new Error('unused')) },
        owner: 'bench-tp',
        send: [smtpRoute(smtp.port)],
      });
      const before = smtp.received.length;
      try {
        await svc.mailbox('agent').send(msg(-1, 'warm-up'));
        const t0 = performance.now();
        await pool(n, c, async (i) => {
          const r = await svc.mailbox('agent').send(msg(i, 'outbox'));
          if (r.status === 'failed') throw new Error(`outbox send failed: ${r.error}`);
        });
        // With concurrency a send may find its row claimed by another send's batch: it is delivered in the background.
        await smtp.waitForCount(before + n + 1, Math.max(1000, deadline - Date.now()));
        const s = (performance.now() - t0) / 1000;
        const st = await store.outboxStats('agent');
        if (st.sent !== n + 1 || smtp.received.length - before !== n + 1)
          throw new Error(`outbox: sent ${st.sent}, received ${smtp.received.length - before}, expected ${n + 1}`);
        rows.push({
          mode: `mailbox.send (SQLite synchronous=${sync.toUpperCase()})`,
          concurrency: c,
          messages: n,
          seconds: +s.toFixed(2),
          perSecond: Math.round(n / s),
        });
        log(`throughput: outbox ${sync} c=${c}: ${Math.round(n / s)}/s`);
      } finally {
        await svc.stop();
        await done();
      }
    };
    for (const c of [1, concurrency]) {
      await raw(c);
      await outbox(c, 'full');
      await outbox(c, 'normal');
    }
    const rate = (mode: string, c: number): number =>
      rows.find((r) => r.mode.startsWith(mode) && r.concurrency === c)?.perSecond ?? NaN;
    const ratios: Record<string, number> = {};
    for (const c of [1, concurrency]) {
      for (const sync of ['FULL', 'NORMAL'])
        ratios[`raw/outbox ${sync} c=${c}`] = +(
          rate('raw', c) / rate(`mailbox.send (SQLite synchronous=${sync}`, c)
        ).toFixed(2);
    }
    return { rows, ratios };
  } finally {
    await smtp.stop();
  }
}

// ---------------------------------------------------------------- 3. soak with kill -9
interface SoakReport {
  messages: number;
  concurrency: number;
  lives: number;
  kills: number;
  acknowledged: number;
  delivered: number;
  lost: number;
  outboxRows: { pending: number; sending: number; sent: number; failed: number };
  /** SMTP transactions (MAIL FROM seen) that never completed DATA: cut by a kill. */
  transactionsCut: number;
  messagesWithTwoMessageIds: number;
  copiesPerMessage: Record<string, number>;
  duplicates: number;
  maxCopiesPerMessageId: number;
  seconds: number;
}

async function soak(total: number, concurrency: number, killMaxMs: number, maxLives: number): Promise<SoakReport> {
  let mailFroms = 0;
  const smtp = await startSmtpPeer({
    passwords: { [ADDRESS]: APP_PASSWORD },
    beforeReply: async (stage) => {
      if (stage === 'mail') mailFroms++;
    },
  });
  const dir = mkdtempSync(join(tmpBase, 'tw-mail-soak-'));
  const key = generateKey();
  const env = { ...process.env, TW_BENCH_KEY: key.toString('base64') };
  const started = performance.now();
  const deadline = Date.now() + 8 * 60_000;
  const acked = new Set<number>();
  let drained = false;
  let lives = 0;
  let kills = 0;
  let offset = 0;
  let child: ChildProcess | null = null;
  try {
    while (!(drained && acked.size === total)) {
      if (lives >= maxLives || Date.now() > deadline)
        throw new Error(`soak: gave up after ${lives} lives (${acked.size}/${total} acknowledged, drained=${drained})`);
      let from = 0;
      while (acked.has(from)) from++;
      offset += 6_000; // past the 5 s lease of anything the previous life held
      lives++;
      const c = fork(
        join(import.meta.dirname, 'mail-soak-worker.ts'),
        [dir, String(smtp.port), String(offset), String(from), String(total), String(concurrency)],
        {
          execArgv: ['--import', 'tsx'],
          env,
          stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
        },
      );
      child = c;
      const exited = new Promise<number | string | null>((r) => c.once('exit', (code, sig) => r(sig ?? code)));
      let lifeDrained = false;
      const ready = new Promise<void>((resolve, reject) => {
        c.on('message', (m: { t: string; n?: number }) => {
          if (m.t === 'ready') resolve();
          else if (m.t === 'acked') acked.add(m.n as number);
          else if (m.t === 'drained') lifeDrained = true;
        });
        void exited.then((code) => reject(new Error(`soak worker exited before it was ready (${String(code)})`)));
      });
      await ready;
      const delay = Math.random() * killMaxMs;
      const outcome = await Promise.race([
        new Promise<'kill'>((r) => setTimeout(() => r('kill'), delay)),
        exited.then(() => 'exited' as const),
      ]);
      if (outcome === 'kill') {
        c.kill('SIGKILL');
        kills++;
      }
      const code = await exited;
      child = null;
      if (outcome === 'exited' && code !== 0) throw new Error(`soak worker failed (${String(code)})`);
      if (lifeDrained) drained = true;
      else drained = false; // a later life may have new rows
      if (lives % 10 === 0)
        log(
          `soak: ${lives} lives, ${kills} kills, ${acked.size}/${total} acknowledged, ${smtp.received.length} received`,
        );
    }
    // What the SMTP peer got, by message number (subject) and by Message-ID.
    const copies = new Map<number, number>();
    const ids = new Map<number, Set<string>>();
    for (const m of smtp.received) {
      const n = Number(/^Subject: soak (\d+)$/im.exec(m.raw.toString('utf8'))?.[1] ?? NaN);
      copies.set(n, (copies.get(n) ?? 0) + 1);
      if (!ids.has(n)) ids.set(n, new Set());
      ids.get(n)?.add(m.messageId ?? '');
    }
    const dist: Record<string, number> = {};
    let lost = 0;
    let duplicates = 0;
    for (let n = 0; n < total; n++) {
      const k = copies.get(n) ?? 0;
      if (k === 0 && acked.has(n)) lost++;
      duplicates += Math.max(0, k - 1);
      dist[String(k)] = (dist[String(k)] ?? 0) + 1;
    }
    // Count copies per Message-ID at the peer too (the dedupe handle receivers get).
    const perId = new Map<string, number>();
    for (const m of smtp.received) perId.set(m.messageId ?? '', (perId.get(m.messageId ?? '') ?? 0) + 1);
    const store = await openBenchStore(dir, key);
    const st = await store.outboxStats('agent');
    await store.close();
    return {
      messages: total,
      concurrency,
      lives,
      kills,
      acknowledged: acked.size,
      delivered: smtp.received.length,
      lost,
      transactionsCut: mailFroms - smtp.received.length,
      outboxRows: st,
      messagesWithTwoMessageIds: [...ids.values()].filter((s) => s.size > 1).length,
      copiesPerMessage: dist,
      duplicates,
      seconds: Math.round((performance.now() - started) / 1000),
      maxCopiesPerMessageId: Math.max(...perId.values()),
    };
  } finally {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await smtp.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- main
const out: Record<string, unknown> = {};
const t0 = performance.now();
if (what === 'all' || what === 'failover') out['failover'] = await failover(flag('samples', 200));
if (what === 'all' || what === 'throughput')
  out['throughput'] = await throughput(flag('messages', 2000), flag('concurrency', 8));
if (what === 'all' || what === 'soak')
  out['soak'] = await soak(
    flag('soak-messages', 1000),
    flag('soak-concurrency', 4),
    flag('kill-max-ms', 1500),
    flag('max-lives', 400),
  );
out['seconds'] = Math.round((performance.now() - t0) / 1000);

if (asJson) console.log(JSON.stringify(out, null, 2));
else {
  const f = out['failover'] as FailoverRow[] | undefined;
  if (f) {
    console.log('\nFailover latency (ms): OAuth route failure → SMTP peer accepted the message');
    console.log('| failure | circuit | n | fail→accepted p50 | p99 | max | send() p50 | send() p99 |');
    console.log('|---|---|---|---|---|---|---|---|');
    for (const r of f)
      console.log(
        `| ${r.failure} | ${r.circuit} | ${r.failToAcceptedMs.n} | ${r.failToAcceptedMs.p50} | ${r.failToAcceptedMs.p99} | ${r.failToAcceptedMs.max} | ${r.sendCallMs.p50} | ${r.sendCallMs.p99} |`,
      );
  }
  const tp = out['throughput'] as { rows: ThroughputRow[]; ratios: Record<string, number> } | undefined;
  if (tp) {
    console.log('\nThroughput to a pooled local SMTP server');
    console.log('| mode | concurrency | messages | s | msg/s |');
    console.log('|---|---|---|---|---|');
    for (const r of tp.rows)
      console.log(`| ${r.mode} | ${r.concurrency} | ${r.messages} | ${r.seconds} | ${r.perSecond} |`);
    console.log('ratios (raw ÷ outbox):', JSON.stringify(tp.ratios));
  }
  if (out['soak']) console.log('\nSoak with kill -9:', JSON.stringify(out['soak'], null, 2));
  console.log(`\n${String(out['seconds'])} s in all`);
}
