/**
 * Crash safety, shared by bench/crash.ts (full counts) and
 * test/stress/crash.test.ts (a few kills): child processes (bench/crash-worker.ts) refresh with
 * rotation, complete flows and deliver the outbox on one SQLite store against a real
 * oidc-provider and SMTP server; each is killed with SIGKILL at a random instant, then the
 * parent checks what survived.
 *
 * - refresh: after each kill the stored refresh token must still work. A loss is "in window"
 *   when the provider had answered but the new tokens were not yet committed (the worker
 *   reports both instants; the window is measured), otherwise it is a bug.
 * - flow: the human's redirect URL is handed to a worker that is killed meanwhile. Afterwards the
 *   flow is completed (tokens from it stored), or still open and completes when pasted again, or
 *   lost: in window (the provider had answered), or "claimed, not exchanged" (a bug).
 * - mail: every message whose `send()` returned must be delivered at least once after restarts;
 *   duplicates (same Message-ID delivered twice) are counted.
 */
import { EXCHANGE_LEASE_MS } from '../src/reauth/flows.js';
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { systemClock, type Clock } from '../src/core/clock.js';
import { ReauthRequiredError } from '../src/core/errors.js';
import { createMailService } from '../src/mail/index.js';
import { generateKey } from '../src/store/key.js';
import { openWarden, type Warden, partsOf } from '../src/warden.js';
import { startOidcProvider } from '../test/peers/oidc-provider.js';
import { startSmtpPeer } from '../test/peers/smtp.js';

export interface CrashOptions {
  refreshKills: number;
  flowKills: number;
  mailKills: number;
  /** Kill instants are uniform in [minDelayMs, maxDelayMs] after the worker is ready. */
  minDelayMs?: number;
  maxDelayMs?: number;
  onProgress?: (line: string) => void;
}

export interface CrashReport {
  kills: number;
  refresh: {
    kills: number;
    refreshesCompleted: number;
    lostInWindow: number;
    lostOutsideWindow: number;
    windowMs: { samples: number; p50: number; p99: number; max: number };
  };
  flow: {
    kills: number;
    completed: number;
    recoveredByRepaste: number;
    lostInWindow: number;
    lostClaimedNotExchanged: number;
    lostOther: number;
  };
  mail: { kills: number; acknowledged: number; delivered: number; lost: number; duplicates: number };
}

const REDIRECT = 'http://127.0.0.1:1/oauth/callback';

interface Worker {
  child: ChildProcess;
  messages: Array<Record<string, unknown>>;
  exited: Promise<void>;
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? +(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number).toFixed(2) : 0;
}

export async function runCrash(opts: CrashOptions): Promise<CrashReport> {
  const minDelay = opts.minDelayMs ?? 20;
  const maxDelay = opts.maxDelayMs ?? 400;
  const log = opts.onProgress ?? (() => undefined);
  const peer = await startOidcProvider({
    redirectUris: [REDIRECT],
    accessTokenTtl: 3600,
    refreshTokenTtl: 86_400,
    authCodeTtl: 600,
  });
  const smtp = await startSmtpPeer({ passwords: { 'agent@example.com': 'crash-app-password' } });
  const dir = mkdtempSync(join(tmpdir(), 'tw-crash-'));
  const configPath = join(dir, 'tokenwarden.yaml');
  const env = { ...process.env, TW_CRASH_KEY: generateKey().toString('base64') };
  writeFileSync(
    configPath,
    stringify({
      store: 'sqlite:state.db',
      key: 'env:TW_CRASH_KEY',
      connections: {
        sandbox: {
          provider: 'oidc',
          issuer: peer.issuer,
          client_id: peer.clientId,
          client_secret: peer.clientSecret,
          redirect_uri: REDIRECT,
          scopes: ['openid', 'offline_access'],
          flow: 'auth_code',
        },
      },
      mailboxes: {
        agent: {
          address: 'agent@example.com',
          send: [
            {
              smtp: {
                host: smtp.host,
                port: smtp.port,
                secure: false,
                user: 'agent@example.com',
                password: 'crash-app-password',
              },
            },
          ],
        },
      },
    }),
  );
  // Every process runs the same clock, `offset` ahead of real time: each restart moves it past any lease of the dead.
  let offset = 0;
  const clock: Clock = { now: () => Date.now() + offset, sleep: systemClock.sleep };
  let parent: Warden | null = null;
  const openParent = async (): Promise<Warden> =>
    (parent ??= await openWarden({ configPath, env, clock, leaseMs: 5_000 }));
  const closeParent = async (): Promise<void> => {
    await parent?.close();
    parent = null;
  };
  const authorize = async (): Promise<void> => {
    const w = await openParent();
    const flow = await partsOf(w).flows.open('sandbox', { reason: 'manual', fresh: true });
    await partsOf(w).flows.completeFromInput(await peer.approveAuthorization(flow.url), { via: 'crash-bench' });
  };
  const spawnWorker = async (mode: string, extra: string[] = []): Promise<Worker> => {
    await closeParent(); // the parent never writes while a worker runs
    offset += 60_000;
    const child = fork(join(import.meta.dirname, 'crash-worker.ts'), [mode, configPath, String(offset), ...extra], {
      execArgv: ['--import', 'tsx'],
      env,
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    const messages: Array<Record<string, unknown>> = [];
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    const ready = new Promise<void>((resolve, reject) => {
      child.on('message', (m) => {
        messages.push(m as Record<string, unknown>);
        if ((m as { t?: string }).t === 'ready') resolve();
      });
      child.once('exit', () => reject(new Error(`${mode} worker exited before it was ready`)));
    });
    await ready;
    return { child, messages, exited };
  };
  /** The random kill instant. */
  const killAtRandom = async (w: Worker, scale = 1): Promise<void> => {
    const delay = (minDelay + Math.random() * (maxDelay - minDelay)) * scale;
    await new Promise((r) => setTimeout(r, delay));
    w.child.kill('SIGKILL');
    await w.exited;
  };
  const lastOf = (w: Worker, types: string[]): string | undefined =>
    [...w.messages].reverse().find((m) => types.includes(m['t'] as string))?.['t'] as string | undefined;

  const report: CrashReport = {
    kills: 0,
    refresh: {
      kills: 0,
      refreshesCompleted: 0,
      lostInWindow: 0,
      lostOutsideWindow: 0,
      windowMs: { samples: 0, p50: 0, p99: 0, max: 0 },
    },
    flow: { kills: 0, completed: 0, recoveredByRepaste: 0, lostInWindow: 0, lostClaimedNotExchanged: 0, lostOther: 0 },
    mail: { kills: 0, acknowledged: 0, delivered: 0, lost: 0, duplicates: 0 },
  };
  const windows: number[] = [];

  try {
    await authorize();

    // ---- refresh with rotation ----
    for (let i = 0; i < opts.refreshKills; i++) {
      const w = await spawnWorker('refresh');
      await killAtRandom(w);
      report.kills++;
      report.refresh.kills++;
      for (const m of w.messages) {
        if (m['t'] === 'committed') windows.push(m['windowMs'] as number);
        if (m['t'] === 'refreshed') report.refresh.refreshesCompleted++;
      }
      const p = await openParent();
      try {
        await partsOf(p).keeper.forceRefresh('sandbox');
      } catch (e) {
        if (!(e instanceof ReauthRequiredError)) throw e;
        // The provider rotated (and, seeing the old token reused, revoked the grant): was the kill inside the window?
        if (lastOf(w, ['answered', 'committed']) === 'answered') report.refresh.lostInWindow++;
        else report.refresh.lostOutsideWindow++;
        await authorize();
      }
      if ((i + 1) % 25 === 0) log(`refresh: ${i + 1}/${opts.refreshKills} kills`);
    }

    // ---- flow completion ----
    for (let i = 0; i < opts.flowKills; i++) {
      const p = await openParent();
      const flow = await partsOf(p).flows.open('sandbox', { reason: 'manual', fresh: true });
      const finalUrl = await peer.approveAuthorization(flow.url);
      const w = await spawnWorker('flow');
      w.child.send({ complete: finalUrl });
      await killAtRandom(w, 0.5);
      report.kills++;
      report.flow.kills++;
      const q = await openParent();
      const after = await partsOf(q).store.getFlow(flow.id);
      const row = await partsOf(q).store.getConnection('sandbox');
      const fromThisFlow =
        (row?.grantedAt ?? 0) >= flow.createdAt &&
        (await partsOf(q).store.listEvents({ connection: 'sandbox', newestFirst: true, limit: 20 })).some(
          (e) => e.type === 'reauth_completed' && (e.data as { flowId?: string } | null)?.flowId === flow.id,
        );
      if (after?.status === 'completed' && fromThisFlow) report.flow.completed++;
      else if (after?.status === 'open') {
        // The human pastes again once the dead worker's claim on the flow has lapsed.
        offset += EXCHANGE_LEASE_MS + 1_000;
        try {
          await partsOf(q).flows.completeFromInput(finalUrl, { via: 'crash-bench repaste' });
          report.flow.recoveredByRepaste++;
        } catch {
          if (lastOf(w, ['answered']) === 'answered') report.flow.lostInWindow++;
          else report.flow.lostOther++;
        }
      } else if (lastOf(w, ['answered']) === 'answered') report.flow.lostInWindow++;
      else if (after?.status === 'completed') report.flow.lostClaimedNotExchanged++;
      else report.flow.lostOther++;
      // Whatever happened, the connection must still serve (old or new grant).
      try {
        await partsOf(q).keeper.forceRefresh('sandbox');
      } catch {
        await authorize();
      }
      if ((i + 1) % 25 === 0) log(`flow: ${i + 1}/${opts.flowKills} kills`);
    }

    // ---- outbox delivery ----
    const acked = new Set<number>();
    let next = 0;
    for (let i = 0; i < opts.mailKills; i++) {
      const w = await spawnWorker('mail', [String(next)]);
      await killAtRandom(w, 4); // a send is MIME + SMTP: give it room to get some done
      report.kills++;
      report.mail.kills++;
      for (const m of w.messages) if (m['t'] === 'enqueued') acked.add(m['n'] as number);
      // The next worker starts after the highest number this one may have enqueued (acknowledged or not).
      next = Math.max(next, ...[...acked].map((n) => n + 1)) + 1;
      if ((i + 1) % 25 === 0) log(`mail: ${i + 1}/${opts.mailKills} kills`);
    }
    // Restart once more and drain the outbox.
    await closeParent();
    offset += 60_000;
    const p = await openParent();
    const svc = createMailService({
      config: p.config,
      store: partsOf(p).store,
      tokens: partsOf(p).keeper,
      clock,
      logger: partsOf(p).deps.logger,
      events: partsOf(p).sink,
      owner: 'crash-drain',
      options: { leaseMs: 5_000 },
    });
    for (let guard = 0; guard < 100; guard++) {
      const s = await partsOf(p).store.outboxStats('agent');
      if (s.pending + s.sending === 0) break;
      await svc.deliverDue();
    }
    await svc.stop();
    const counts = new Map<string, number>();
    for (const m of smtp.received) {
      const subject = /^Subject: (.*)$/im.exec(m.raw.toString('utf8'))?.[1]?.trim() ?? '';
      counts.set(subject, (counts.get(subject) ?? 0) + 1);
    }
    report.mail.acknowledged = acked.size;
    report.mail.delivered = smtp.received.length;
    for (const n of acked) if (!counts.has(`crash ${n}`)) report.mail.lost++;
    for (const c of counts.values()) report.mail.duplicates += c - 1;
    report.refresh.windowMs = {
      samples: windows.length,
      p50: pct(windows, 50),
      p99: pct(windows, 99),
      max: pct(windows, 100),
    };
    return report;
  } finally {
    await closeParent();
    await smtp.stop();
    await peer.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
