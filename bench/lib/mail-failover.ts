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
import { startGmailFake } from '../../test/peers/gmail-fake.js';
import { startSmtpPeer } from '../../test/peers/smtp.js';
import { ADDRESS, APP_PASSWORD, buildService, openBenchStore, smtpRoute } from '../mail-common.js';
import { interleaved, median, percentile, type PairStats } from './pairs.js';

const TOKEN = 'ya29.bench-access-token-0123456789';

export interface FailoverRow {
  failure: string;
  situation: string;
  /** tokenwarden: failure → accepted, and the caller's whole send() call. */
  product: { p50: number; p99: number; max: number; sendP50: number; sendP99: number; n: number };
  /** nodemailer started at the failure → accepted. */
  peer: { p50: number; p99: number; n: number };
  pairs: PairStats;
}

const summary = (xs: number[]): { p50: number; p99: number; max: number; n: number } => ({
  p50: percentile(xs, 50),
  p99: percentile(xs, 99),
  max: Math.max(...xs),
  n: xs.length,
});

export async function failover(samples: number, pairs: number, tmpBase: string): Promise<FailoverRow[]> {
  const perBlock = Math.max(1, Math.round(samples / pairs));
  let tFail = 0;
  let tAccepted = 0;
  const smtp = await startSmtpPeer({
    passwords: { [ADDRESS]: APP_PASSWORD },
    beforeReply: async (stage) => {
      if (stage === 'data') tAccepted = performance.now(); // recorded; the 250 goes out next
    },
  });
  const gmail = await startGmailFake({ verifyToken: async (t) => t === TOKEN });
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
  const dir = mkdtempSync(join(tmpBase, 'tw-mail-bench-'));
  const store = await openBenchStore(dir, generateKey());
  let seq = 0;
  const message = (tag: string) => ({ to: 'bob@example.org', subject: `${tag} ${seq++}`, text: 'Failover.\n' });
  const newTransport = (): Transporter =>
    createTransport({
      pool: true,
      maxConnections: 2,
      host: '127.0.0.1',
      port: smtp.port,
      secure: false,
      auth: { user: ADDRESS, pass: APP_PASSWORD },
    });
  const service = (tokens: TokenSource, owner: string, coolDown0: boolean): MailService =>
    buildService({
      store,
      clock: systemClock,
      tokens,
      owner,
      send,
      gmail: true,
      fetch: spyFetch,
      ...(coolDown0 ? { options: { circuit: { coolDownMs: 0, maxCoolDownMs: 0 } } } : {}),
    });
  /** One tokenwarden send; failure (or send() start when the circuit is open) → accepted. */
  async function productOne(svc: MailService, expectFail: boolean): Promise<{ ms: number; call: number }> {
    tFail = 0;
    const t0 = performance.now();
    const r = await svc.mailbox('agent').send(message('failover'));
    const call = performance.now() - t0;
    if (r.status !== 'sent' || !r.route?.startsWith('smtp:')) throw new Error(`not sent over SMTP: ${r.status}`);
    if (expectFail && tFail === 0) throw new Error('the OAuth route was not tried');
    return { ms: tAccepted - (expectFail ? tFail : t0), call };
  }
  async function peerOne(t: Transporter): Promise<number> {
    const t0 = performance.now();
    await t.sendMail({ from: ADDRESS, ...message('by hand') });
    return tAccepted - t0;
  }

  const rows: FailoverRow[] = [];
  async function row(
    failure: string,
    situation: string,
    productSample: () => Promise<{ ms: number; call: number }>,
    peerSample: () => Promise<number>,
  ): Promise<void> {
    const a: number[] = [];
    const c: number[] = [];
    const b: number[] = [];
    const s = await interleaved({
      a: async () => {
        const block: number[] = [];
        for (let i = 0; i < perBlock; i++) {
          const r = await productSample();
          block.push(r.ms);
          c.push(r.call);
        }
        a.push(...block);
        return median(block);
      },
      b: async () => {
        const block: number[] = [];
        for (let i = 0; i < perBlock; i++) block.push(await peerSample());
        b.push(...block);
        return median(block);
      },
      pairs,
      warmup: 0,
    });
    const ps = summary(a);
    rows.push({
      failure,
      situation,
      product: { ...ps, sendP50: percentile(c, 50), sendP99: percentile(c, 99) },
      peer: summary(b),
      pairs: { ...s, samplesA: undefined, samplesB: undefined } as PairStats,
    });
  }

  const warm = newTransport();
  try {
    await peerOne(warm);
    for (const [failure, tokens] of [
      ['Gmail answers 401', tokens401],
      ['the token source throws ReauthRequiredError', tokensRevoked],
    ] as const) {
      // A fresh service per send: the SMTP pool connects, greets and authenticates on demand.
      await row(
        failure,
        'first failure, nothing connected yet',
        async () => {
          const svc = service(tokens, `bench-${seq}`, false);
          try {
            return await productOne(svc, true);
          } finally {
            await svc.stop();
          }
        },
        async () => {
          const t = newTransport();
          try {
            return await peerOne(t);
          } finally {
            t.close();
          }
        },
      );
      // Circuit cool-down 0: every send tries the OAuth route again; the SMTP pool stays warm.
      const hot = service(tokens, 'bench-warm', true);
      await productOne(hot, true);
      await row(
        failure,
        'every send meets the failure, connections warm',
        () => productOne(hot, true),
        () => peerOne(warm),
      );
      await hot.stop();
      // Default cool-down: the first failure opens the circuit, later sends skip the OAuth route.
      const open = service(tokens, 'bench-open', false);
      await productOne(open, true);
      await row(
        failure,
        'circuit open: OAuth route skipped (send() start → accepted)',
        () => productOne(open, false),
        () => peerOne(warm),
      );
      await open.stop();
    }
    return rows;
  } finally {
    warm.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
    await gmail.stop();
    await smtp.stop();
  }
}
