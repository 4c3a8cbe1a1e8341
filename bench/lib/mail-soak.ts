/**
 * The mail soak of bench/mail.ts: ≥ 1,000 messages from a child (bench/mail-soak-worker.ts)
 * killed with SIGKILL at random instants and restarted until every message is acknowledged;
 * lost messages and copies per Message-ID are counted at the SMTP peer.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { generateKey } from '../../src/store/key.js';
import { startSmtpPeer, type SmtpPeer } from '../../test/peers/smtp.js';
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

interface Life {
  dir: string;
  port: number;
  env: NodeJS.ProcessEnv;
  offset: number;
  from: number;
  total: number;
  concurrency: number;
  killMaxMs: number;
  acked: Set<number>;
}

/**
 * One life of the sender: fork it, wait until it is ready, kill it at a random instant (unless it
 * finishes first). Reports whether it was killed and whether it reported the outbox drained.
 */
async function oneLife(
  l: Life,
  current: { child: ChildProcess | null },
): Promise<{ killed: boolean; drained: boolean }> {
  const c = fork(
    join(import.meta.dirname, '..', 'mail-soak-worker.ts'),
    [l.dir, String(l.port), String(l.offset), String(l.from), String(l.total), String(l.concurrency)],
    { execArgv: ['--import', 'tsx'], env: l.env, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] },
  );
  current.child = c;
  const exited = new Promise<number | string | null>((r) => c.once('exit', (code, sig) => r(sig ?? code)));
  let drained = false;
  await new Promise<void>((resolve, reject) => {
    c.on('message', (m: { t: string; n?: number }) => {
      if (m.t === 'ready') resolve();
      else if (m.t === 'acked') l.acked.add(m.n as number);
      else if (m.t === 'drained') drained = true;
    });
    void exited.then((code) => reject(new Error(`soak worker exited before it was ready (${String(code)})`)));
  });
  const delay = Math.random() * l.killMaxMs;
  const outcome = await Promise.race([
    new Promise<'kill'>((r) => setTimeout(() => r('kill'), delay)),
    exited.then(() => 'exited' as const),
  ]);
  if (outcome === 'kill') c.kill('SIGKILL');
  const code = await exited;
  current.child = null;
  if (outcome === 'exited' && code !== 0) throw new Error(`soak worker failed (${String(code)})`);
  return { killed: outcome === 'kill', drained };
}

/** What the SMTP peer got, by message number (subject) and by Message-ID. */
function countAtPeer(
  received: SmtpPeer['received'],
  total: number,
  acked: Set<number>,
): Pick<
  SoakReport,
  'lost' | 'duplicates' | 'copiesPerMessage' | 'messagesWithTwoMessageIds' | 'maxCopiesPerMessageId'
> {
  const copies = new Map<number, number>();
  const ids = new Map<number, Set<string>>();
  for (const m of received) {
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
  // Copies per Message-ID too (the dedupe handle receivers get).
  const perId = new Map<string, number>();
  for (const m of received) perId.set(m.messageId ?? '', (perId.get(m.messageId ?? '') ?? 0) + 1);
  return {
    lost,
    duplicates,
    copiesPerMessage: dist,
    messagesWithTwoMessageIds: [...ids.values()].filter((x) => x.size > 1).length,
    maxCopiesPerMessageId: Math.max(0, ...perId.values()),
  };
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
  const current: { child: ChildProcess | null } = { child: null };
  let drained = false;
  let lives = 0;
  let kills = 0;
  try {
    while (!(drained && acked.size === total)) {
      if (lives >= maxLives || Date.now() > deadline)
        throw new Error(`soak: gave up after ${lives} lives (${acked.size}/${total} acknowledged, drained=${drained})`);
      let from = 0;
      while (acked.has(from)) from++;
      lives++;
      // Each life's clock starts past the 5 s lease of anything the previous life held.
      const life = { dir, port: smtp.port, env, offset: lives * 6_000, from, total, concurrency, killMaxMs, acked };
      const r = await oneLife(life, current);
      if (r.killed) kills++;
      drained = r.drained; // a later life may have new rows
      if (lives % 10 === 0)
        log(
          `soak: ${lives} lives, ${kills} kills, ${acked.size}/${total} acknowledged, ${smtp.received.length} received`,
        );
    }
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
      transactionsCut: mailFroms - smtp.received.length,
      outboxRows: st,
      seconds: Math.round((performance.now() - started) / 1000),
      ...countAtPeer(smtp.received, total, acked),
    };
  } finally {
    const c = current.child;
    if (c && c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await smtp.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
