/**
 * The mail soak of bench/mail.ts: ≥ 1,000 messages from a child (bench/mail-soak-worker.ts)
 * killed with SIGKILL at random instants and restarted until every message is acknowledged;
 * lost messages and copies per Message-ID are counted at the SMTP peer.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { generateKey } from '../../src/store/key.js';
import { startSmtpPeer } from '../../test/peers/smtp.js';
import { ADDRESS, APP_PASSWORD, openBenchStore } from '../mail-common.js';

export interface SoakReport {
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

export async function soak(
  total: number,
  concurrency: number,
  killMaxMs: number,
  maxLives: number,
  tmpBase: string,
  log: (s: string) => void,
): Promise<SoakReport> {
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
        join(import.meta.dirname, '..', 'mail-soak-worker.ts'),
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
