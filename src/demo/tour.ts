/**
 * The demo's story, narrated as it happens against the running sandbox: connect (the simulated
 * human approves and pastes the redirect URL), proactive refreshes with rotation, the provider
 * revoking the grant, the diagnosis, the re-auth request, mail failing over to the App Password
 * route, the human's paste and the instant exchange, and mail back on the OAuth route.
 *
 * Every step checks what it claims (the state, the route that carried the mail, what the SMTP
 * server saw); a step that fails stops the tour and the summary says which and why.
 */
import { performance } from 'node:perf_hooks';
import { EventLog } from './event-log.js';
import type { Sandbox } from './sandbox.js';
import { StepFailed, TOUR_STEPS, type Tour } from './tour-steps.js';

export interface TourStep {
  title: string;
  status: 'ok' | 'failed' | 'skipped';
  /** One line: what was proven, or why it failed. */
  summary: string;
}

export interface TourResult {
  ok: boolean;
  steps: TourStep[];
  /** Paste reaching the daemon → tokens stored and the answer back, per paste (ms). */
  pasteMs: number[];
  elapsedMs: number;
}

/** No step may hang the tour: CI must get a verdict (the longest step waits on ~2 refresh cycles). */
const STEP_TIMEOUT_MS = 30_000;

export async function runTour(sb: Sandbox, out: (s: string) => void): Promise<TourResult> {
  const t: Tour = {
    sb,
    warden: sb.daemon.warden,
    log: new EventLog(sb.daemon.warden),
    say: (s) => out(`        ${s}\n`),
    pasteMs: [],
    revokeMark: 0,
  };
  const started = performance.now();
  const steps: TourStep[] = [];
  let failed = false;
  for (const [i, [title, fn]] of TOUR_STEPS.entries()) {
    if (failed) {
      steps.push({ title, status: 'skipped', summary: 'skipped after an earlier failure' });
      continue;
    }
    out(`\n[${((performance.now() - started) / 1000).toFixed(1).padStart(5)}s] ${i + 1}. ${title}\n`);
    try {
      const summary = await withinStepTimeout(fn(t));
      out(`        ✔ ${summary}\n`);
      steps.push({ title, status: 'ok', summary });
    } catch (err) {
      failed = true;
      const why = err instanceof Error ? err.message : String(err);
      out(`        ✘ ${why}\n`);
      steps.push({ title, status: 'failed', summary: why });
    }
  }
  t.log.detach();
  return { ok: !failed, steps, pasteMs: t.pasteMs, elapsedMs: performance.now() - started };
}

function withinStepTimeout<T>(p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new StepFailed(`step did not finish within ${STEP_TIMEOUT_MS / 1000} s`)),
      STEP_TIMEOUT_MS,
    );
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

/** The closing summary: every step with its result, the paste latencies and what the SMTP server saw. */
export function renderSummary(r: TourResult, sb: Pick<Sandbox, 'smtp'>): string {
  const passed = r.steps.filter((s) => s.status === 'ok').length;
  const mark = { ok: '✔', failed: '✘', skipped: '·' } as const;
  const lines = [
    '',
    `Summary: ${passed}/${r.steps.length} steps passed in ${(r.elapsedMs / 1000).toFixed(1)} s — ${r.ok ? 'DEMO OK' : 'DEMO FAILED'}`,
    ...r.steps.map((s, i) => `  ${mark[s.status]} ${i + 1}. ${s.title}: ${s.summary}`),
  ];
  if (r.pasteMs.length) lines.push(`  paste → tokens stored: ${r.pasteMs.map((m) => `${m.toFixed(1)} ms`).join(', ')}`);
  const by = (a: 'xoauth2' | 'password'): number => sb.smtp.caught.filter((m) => m.auth === a).length;
  lines.push(
    `  mail received by the local SMTP server: ${by('xoauth2')} via OAuth (XOAUTH2), ${by('password')} via App Password`,
  );
  return lines.join('\n') + '\n';
}
