/**
 * Mail benchmarks, on loopback against the test peers (Gmail REST fake, smtp-server), with a
 * real SQLite store (`openStore`, generated key, synchronous=FULL, events written to the store):
 *
 *   failover    OAuth route fails (Gmail fake answers 401 / the token source throws
 *               ReauthRequiredError) → message accepted by the SMTP peer, interleaved with a
 *               by-hand nodemailer send at the failure (bench/lib/mail-failover.ts)
 *   soak        ≥ 1,000 messages from a child killed with SIGKILL at random instants and
 *               restarted until every message is acknowledged; lost and copies per Message-ID
 *               (bench/lib/mail-soak.ts)
 *
 * Outbox throughput against raw nodemailer is bench/outbox-throughput.ts.
 *
 *   npx tsx bench/mail.ts [all|failover|soak] [--samples 100] [--pairs 5] [--soak-messages 1000]
 *       [--soak-concurrency 4] [--kill-max-ms 1500] [--max-lives 400] [--tmp-dir DIR] [--json]
 */
import { tmpdir } from 'node:os';
import { failover, type FailoverRow } from './lib/mail-failover.js';
import { soak } from './lib/mail-soak.js';
import { formatLoad, formatRatio, loadMeter } from './lib/pairs.js';
import { writeResult } from './lib/report.js';

const argv = process.argv.slice(2);
const what = argv[0] && !argv[0].startsWith('--') ? argv[0] : 'all';
if (!['all', 'failover', 'soak'].includes(what))
  throw new Error(`unknown part "${what}": use all, failover or soak (throughput is bench/outbox-throughput.ts)`);
const flag = (name: string, dflt: number): number => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : dflt;
};
const tmpIdx = argv.indexOf('--tmp-dir');
const tmpBase = tmpIdx >= 0 ? (argv[tmpIdx + 1] as string) : tmpdir();
const tmpArg = tmpIdx >= 0 ? ` --tmp-dir ${tmpBase}` : '';
const log = (s: string): void => void process.stderr.write(`  ${s}\n`);
const ms = (x: number): string => x.toFixed(1);

const out: Record<string, unknown> = {};
if (what === 'all' || what === 'failover') {
  const samples = flag('samples', 100);
  const pairs = flag('pairs', 5);
  const rows = await failover(samples, pairs, tmpBase);
  out['failover'] = rows;
  reportFailover(rows, `npx tsx bench/mail.ts failover --samples ${samples} --pairs ${pairs}${tmpArg}`);
}
if (what === 'all' || what === 'soak') {
  const [n, c, k, lives] = [
    flag('soak-messages', 1000),
    flag('soak-concurrency', 4),
    flag('kill-max-ms', 1500),
    flag('max-lives', 400),
  ];
  const load = loadMeter();
  const r = await soak(n, c, k, lives, tmpBase, log);
  out['soak'] = r;
  const dist = Object.entries(r.copiesPerMessage)
    .map(([copies, count]) => `${copies} ${copies === '1' ? 'copy' : 'copies'}: ${count.toLocaleString('en')}`)
    .join('; ');
  writeResult(
    'mail-soak',
    `npx tsx bench/mail.ts soak --soak-messages ${n} --soak-concurrency ${c} --kill-max-ms ${k}${tmpArg}`,
    [
      `A child process sends messages with \`mailbox.send\`, ${c} at a time, each with its own idempotency key; the parent kills it with SIGKILL at a uniform random instant 0–${k} ms after it is ready and restarts it from the lowest unacknowledged message (past the 5 s lease), until every message is acknowledged and the outbox is drained. Copies are counted at the SMTP peer. One run, ${r.seconds} s, ${load.end()}.`,
      '',
      '| lives | kills | SMTP transactions cut by a kill | acknowledged | delivered | lost | copies per message | max copies per Message-ID | one message, two Message-IDs | outbox at the end |',
      '|---|---|---|---|---|---|---|---|---|---|',
      `| ${r.lives} | ${r.kills} | ${r.transactionsCut} | ${r.acknowledged.toLocaleString('en')} | ${r.delivered.toLocaleString('en')} | **${r.lost}** | ${dist} | ${r.maxCopiesPerMessageId} | ${r.messagesWithTwoMessageIds} | ${r.outboxRows.sent.toLocaleString('en')} sent, ${r.outboxRows.pending + r.outboxRows.sending + r.outboxRows.failed} pending/sending/failed |`,
      '',
      'Target: 0 lost. A second copy with the same Message-ID is the documented at-least-once window: the provider accepted the message and the process died before the row was marked sent.',
    ].join('\n'),
    r,
  );
}
if (argv.includes('--json')) console.log(JSON.stringify(out, null, 2));

function reportFailover(rows: FailoverRow[], command: string): void {
  writeResult(
    'mail-failover',
    command,
    [
      `The mailbox has \`send: [gmail, smtp]\`; "failure" is the Gmail fake's 401 reaching the route, or the token source throwing ReauthRequiredError; "accepted" is the SMTP peer recording the message, right before its 250. \`send()\` is the caller's whole call (validate, compose, seal, enqueue, claim, deliver, mark sent, events written to the store). Peer: the program doing it by hand, nodemailer (pooled, as the SMTP route) started at the failure. ${rows[0]?.pairs.pairs ?? 0} interleaved pairs (ABBA) per row. Left out on purpose: the token source is a stand-in that returns a token or throws (the failure is what is measured, not the refresh).`,
      '',
      '| failure | situation | failure → accepted p50 / p99 / max ms | send() p50 / p99 ms | nodemailer by hand p50 / p99 ms | ratio to by hand | load |',
      '|---|---|---|---|---|---|---|',
      ...rows.map(
        (r) =>
          `| ${r.failure} | ${r.situation} | ${ms(r.product.p50)} / ${ms(r.product.p99)} / ${ms(r.product.max)} | ${ms(r.product.sendP50)} / ${ms(r.product.sendP99)} | ${ms(r.peer.p50)} / ${ms(r.peer.p99)} | **${formatRatio(r.pairs)}** | ${formatLoad(r.pairs)} |`,
      ),
      '',
      'Target: failure → accepted ≤ 1 s on loopback. The smtp-server peer waits 100 ms before its greeting, so every new SMTP connection (the "first failure" rows, on both sides) carries those 100 ms.',
    ].join('\n'),
    rows,
  );
}
