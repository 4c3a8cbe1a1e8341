/**
 * The failover part of bench/mail.ts: the mailbox has `send: [gmail, smtp]` and the OAuth route
 * fails (the Gmail fake answers 401, or the token source throws ReauthRequiredError); measured is
 * the time from the failure to the SMTP peer accepting the message. The peer is what a program
 * does by hand: on the failure, nodemailer (pooled, as the SMTP route) sends the message itself.
 * Both run interleaved in blocks (ABBA, ≥ 5 pairs) per situation.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createTransport, type Transporter } from 'nodemailer';
import { systemClock } from '../../src/core/clock.js';
import { ReauthRequiredError } from '../../src/core/errors.js';
import type { TokenSource } from '../../src/core/types.js';
import type { MailService } from '../../src/mail/index.js';
import { generateKey } from '../../src/store/key.js';
import type { Store } from '../../src/store/types.js';
import { startGmailFake, type GmailFake } from '../../test/peers/gmail-fake.js';
import { startSmtpPeer, type SmtpPeer } from '../../test/peers/smtp.js';
import { ADDRESS, APP_PASSWORD, buildService, openBenchStore, smtpRoute } from '../mail-common.js';
import { interleaved, median, percentile, type PairStats } from './pairs.js';

const TOKEN = 'ya29.bench-access-token-0123456789';

export interface FailoverRow {
  failure: string;
  situation: string;
  /** tokenwarden: failure → accepted, and the caller's whole send() call. */
  product: { p50: number; p99: number; max: number; sendP50: number; sendP99: number; n: number };
  /** nodemailer started at the failure → accepted. */
  peer: { p50: number; p99: number; max: number; n: number };
  pairs: PairStats;
}

/** The peers, the store and the instants the spies record. */
interface Rig {
  smtp: SmtpPeer;
  gmail: GmailFake;
  store: Store;
  dir: string;
  send: Record<string, unknown>[];
  fetch: typeof fetch;
  marks: { fail: number; accepted: number; seq: number };
}

const summary = (xs: number[]): { p50: number; p99: number; max: number; n: number } => ({
  p50: percentile(xs, 50),
  p99: percentile(xs, 99),
  max: Math.max(...xs),
  n: xs.length,
});

async function startRig(tmpBase: string): Promise<Rig> {
  const marks = { fail: 0, accepted: 0, seq: 0 };
  const smtp = await startSmtpPeer({
    passwords: { [ADDRESS]: APP_PASSWORD },
    beforeReply: async (stage) => {
      if (stage === 'data') marks.accepted = performance.now(); // recorded; the 250 goes out next
    },
  });
  const gmail = await startGmailFake({ verifyToken: async (t) => t === TOKEN });
  gmail.force('401');
  const spyFetch: typeof fetch = async (url, init) => {
    const res = await fetch(url, init);
    if (res.status === 401) marks.fail = performance.now();
    return res;
  };
  const dir = mkdtempSync(join(tmpBase, 'tw-mail-bench-'));
  const store = await openBenchStore(dir, generateKey());
  const send = [{ gmail: { connection: 'gmail', api_base: gmail.url } }, smtpRoute(smtp.port)];
  return { smtp, gmail, store, dir, send, fetch: spyFetch, marks };
}

async function stopRig(rig: Rig): Promise<void> {
  await rig.store.close();
  rmSync(rig.dir, { recursive: true, force: true });
  await rig.gmail.stop();
  await rig.smtp.stop();
}

function tokenSources(rig: Rig): Array<[string, TokenSource]> {
  const revoked: TokenSource = {
    accessToken: async (conn) => {
      rig.marks.fail = performance.now();
      throw new ReauthRequiredError(
        conn,
        { id: 'revoked', summary: 'The grant was revoked.', fix: 'Re-authorize.' },
        { reauth: { askedVia: [] } },
      );
    },
  };
  return [
    ['Gmail answers 401', { accessToken: async () => TOKEN }],
    ['the token source throws ReauthRequiredError', revoked],
  ];
}

function service(rig: Rig, tokens: TokenSource, owner: string, coolDown0: boolean): MailService {
  return buildService({
    store: rig.store,
    clock: systemClock,
    tokens,
    owner,
    send: rig.send,
    gmail: true,
    fetch: rig.fetch,
    ...(coolDown0 ? { options: { circuit: { coolDownMs: 0, maxCoolDownMs: 0 } } } : {}),
  });
}

function transport(rig: Rig): Transporter {
  // Same pool settings as the SMTP route.
  return createTransport({
    pool: true,
    maxConnections: 2,
    host: '127.0.0.1',
    port: rig.smtp.port,
    secure: false,
    auth: { user: ADDRESS, pass: APP_PASSWORD },
  });
}

const message = (rig: Rig, tag: string) => ({
  to: 'bob@example.org',
  subject: `${tag} ${rig.marks.seq++}`,
  text: 'Failover.\n',
});

/** One tokenwarden send: failure (or send() start when the circuit is open) → accepted. */
async function productOne(rig: Rig, svc: MailService, expectFail: boolean): Promise<{ ms: number; call: number }> {
  rig.marks.fail = 0;
  const t0 = performance.now();
  const r = await svc.mailbox('agent').send(message(rig, 'failover'));
  const call = performance.now() - t0;
  if (r.status !== 'sent' || !r.route?.startsWith('smtp:')) throw new Error(`not sent over SMTP: ${r.status}`);
  if (expectFail && rig.marks.fail === 0) throw new Error('the OAuth route was not tried');
  return { ms: rig.marks.accepted - (expectFail ? rig.marks.fail : t0), call };
}

/** The by-hand peer: nodemailer started at the failure → accepted. */
async function peerOne(rig: Rig, t: Transporter): Promise<number> {
  const t0 = performance.now();
  await t.sendMail({ from: ADDRESS, ...message(rig, 'by hand') });
  return rig.marks.accepted - t0;
}

async function measureRow(
  label: { failure: string; situation: string },
  sizes: { perBlock: number; pairs: number },
  productSample: () => Promise<{ ms: number; call: number }>,
  peerSample: () => Promise<number>,
): Promise<FailoverRow> {
  const a: number[] = [];
  const c: number[] = [];
  const b: number[] = [];
  const block = async <T>(sample: () => Promise<T>, pick: (x: T) => number, into: number[]): Promise<number> => {
    const xs: number[] = [];
    for (let i = 0; i < sizes.perBlock; i++) xs.push(pick(await sample()));
    into.push(...xs);
    return median(xs);
  };
  const s = await interleaved({
    a: () =>
      block(
        productSample,
        (r) => {
          c.push(r.call);
          return r.ms;
        },
        a,
      ),
    b: () => block(peerSample, (ms) => ms, b),
    pairs: sizes.pairs,
    warmup: 0,
  });
  return {
    ...label,
    product: { ...summary(a), sendP50: percentile(c, 50), sendP99: percentile(c, 99) },
    peer: summary(b),
    pairs: { ...s, samplesA: undefined, samplesB: undefined } as PairStats,
  };
}

/** The three situations of one failure kind. */
async function rowsFor(
  rig: Rig,
  warm: Transporter,
  [failure, tokens]: [string, TokenSource],
  sizes: { perBlock: number; pairs: number },
): Promise<FailoverRow[]> {
  const rows: FailoverRow[] = [];
  // A fresh service (and a fresh transport) per send: the SMTP pool connects, greets and authenticates on demand.
  const freshProduct = async (): Promise<{ ms: number; call: number }> => {
    const svc = service(rig, tokens, `bench-${rig.marks.seq}`, false);
    try {
      return await productOne(rig, svc, true);
    } finally {
      await svc.stop();
    }
  };
  const freshPeer = async (): Promise<number> => {
    const t = transport(rig);
    try {
      return await peerOne(rig, t);
    } finally {
      t.close();
    }
  };
  rows.push(
    await measureRow({ failure, situation: 'first failure, nothing connected yet' }, sizes, freshProduct, freshPeer),
  );
  // Circuit cool-down 0: every send tries the OAuth route again; the SMTP pool stays warm.
  const hot = service(rig, tokens, 'bench-warm', true);
  await productOne(rig, hot, true);
  const situation = 'every send meets the failure, connections warm';
  rows.push(
    await measureRow(
      { failure, situation },
      sizes,
      () => productOne(rig, hot, true),
      () => peerOne(rig, warm),
    ),
  );
  await hot.stop();
  // Default cool-down: the first failure opens the circuit, later sends skip the OAuth route.
  const open = service(rig, tokens, 'bench-open', false);
  await productOne(rig, open, true);
  const skipped = 'circuit open: OAuth route skipped (send() start → accepted)';
  rows.push(
    await measureRow(
      { failure, situation: skipped },
      sizes,
      () => productOne(rig, open, false),
      () => peerOne(rig, warm),
    ),
  );
  await open.stop();
  return rows;
}

export async function failover(samples: number, pairs: number, tmpBase: string): Promise<FailoverRow[]> {
  const sizes = { perBlock: Math.max(1, Math.round(samples / pairs)), pairs };
  const rig = await startRig(tmpBase);
  const warm = transport(rig);
  try {
    await peerOne(rig, warm);
    const rows: FailoverRow[] = [];
    for (const source of tokenSources(rig)) rows.push(...(await rowsFor(rig, warm, source, sizes)));
    return rows;
  } finally {
    warm.close();
    await stopRig(rig);
  }
}
