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
import { formatDuration } from '../core/duration.js';
import { ReauthRequiredError, channelNames } from '../core/errors.js';
import type { ConnectionStatus } from '../warden.js';
import { EventLog } from './event-log.js';
import { DEMO_CONNECTION as C, DEMO_MAILBOX, type Sandbox } from './sandbox.js';

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

class StepFailed extends Error {}

/** No step may hang the tour: CI must get a verdict (the longest step waits on ~2 refresh cycles). */
const STEP_TIMEOUT_MS = 30_000;

function check(cond: unknown, what: string): asserts cond {
  if (!cond) throw new StepFailed(what);
}

/** Milliseconds below 10 s (the interesting range for the human's turn-around), else a duration. */
const since = (t: number): string =>
  Date.now() - t < 10_000 ? `${Date.now() - t} ms` : formatDuration(Date.now() - t);
const clock = (t: number): string => new Date(t).toISOString().slice(11, 19);
/** The pasted URL as shown on screen: the code and state are single-use secrets, so they are elided. */
const masked = (url: string): string => url.replace(/([?&](?:code|state|iss)=)[^&]*/g, '$1…');

export async function runTour(sb: Sandbox, out: (s: string) => void): Promise<TourResult> {
  const { daemon, provider, smtp, routes } = sb;
  const warden = daemon.warden;
  const log = new EventLog(warden);
  const started = performance.now();
  const steps: TourStep[] = [];
  const pasteMs: number[] = [];
  const say = (s: string): void => out(`        ${s}\n`);
  const status = async (): Promise<ConnectionStatus> =>
    (await warden.status()).find((s) => s.name === C) as ConnectionStatus;
  const mailbox = warden.mailbox(DEMO_MAILBOX);
  const ttlWait = 20_000;
  let revokeMark = 0;

  /** The human's paste, through the daemon's HTTP API (the same path as the dashboard's paste form). */
  const paste = async (redirectUrl: string): Promise<number> => {
    const t0 = performance.now();
    const res = await fetch(new URL('/api/v1/flows/complete', daemon.baseUrl), {
      method: 'POST',
      headers: { authorization: `Bearer ${sb.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ input: redirectUrl }),
    });
    const ms = performance.now() - t0;
    const body = (await res.json()) as { error?: { message?: string } };
    check(res.ok, `the paste was refused (HTTP ${res.status}): ${body.error?.message ?? 'no reason given'}`);
    pasteMs.push(ms);
    return ms;
  };

  const send = async (subject: string, expectRoute: string, expectAuth: 'xoauth2' | 'password'): Promise<string> => {
    const before = smtp.caught.length;
    const r = await mailbox.send({ to: 'bob@sandbox.test', subject, text: 'Sent by the tokenwarden demo.' });
    check(r.status === 'sent', `mail was ${r.status}${r.error ? `: ${r.error}` : ''}`);
    check(r.route === expectRoute, `mail went through ${r.route ?? 'no route'}, expected ${expectRoute}`);
    const got = smtp.caught[before];
    check(
      got && got.auth === expectAuth && got.messageId === r.messageId,
      `the SMTP server did not receive it with ${expectAuth}`,
    );
    return r.messageId;
  };

  const plan: Array<[string, () => Promise<string>]> = [
    [
      'Connect: the human authorizes the agent',
      async () => {
        const flow = await daemon.orchestrator.requestReauth(C, { reason: 'first authorization' });
        say(
          `tokenwarden opened an authorization-code flow (PKCE S256, single-use state, link valid ${formatDuration(flow.expiresAt - Date.now())})`,
        );
        say(`and asked the human via ${channelNames(flow.askedVia)} (the console message is on stderr).`);
        check(flow.askedVia.includes('human'), 'the console channel was not asked');
        const pasted = await provider.approve(flow.url);
        say(`human: opened the link, signed in as alice, approved; the browser ended on`);
        say(`       ${masked(pasted)}  → pasted it.`);
        const ms = await paste(pasted);
        const s = await status();
        check(s.state === 'healthy', `state is ${s.state}, expected healthy`);
        // The daemon probed its mail routes at start, before there was a grant; probe again now.
        const probed = await (await warden.mail()).probeAll();
        const oauthRoute = probed.find((h) => h.route === routes.oauth && h.direction === 'send');
        check(
          oauthRoute?.ok === true && oauthRoute.circuit.state === 'closed',
          `the OAuth mail route is not ready: ${oauthRoute?.error ?? oauthRoute?.circuit.reason ?? 'unknown'}`,
        );
        say(`mail routes probed again: ${routes.oauth} (XOAUTH2 with the new token) is ready.`);
        return `code exchanged and tokens stored ${ms.toFixed(1)} ms after the paste; "${C}" is healthy as ${s.account ?? '?'}`;
      },
    ],
    [
      'Proactive refreshes with rotation',
      async () => {
        let after = log.mark();
        const lines: string[] = [];
        for (let i = 1; i <= 2; i++) {
          const e = await log.waitFor('proactive refresh', (x) => x.type === 'refreshed' && x.connection === C, {
            after,
            timeoutMs: ttlWait,
          });
          after = e.id;
          const exp = typeof e.data?.['expiresAt'] === 'number' ? e.data['expiresAt'] : null;
          const rotated = e.data?.['rotated'] === true;
          say(
            `refresh ${i} at ${clock(e.at)}: before expiry, new access token valid until ${exp ? clock(exp) : '?'}; refresh token rotated: ${rotated ? 'yes, new one stored before use' : 'no'}`,
          );
          check(rotated, 'the provider rotates refresh tokens, but the refresh did not store a new one');
          lines.push(clock(e.at));
        }
        return `the scheduler refreshed ahead of expiry twice (${lines.join(', ')}), storing each rotated refresh token`;
      },
    ],
    [
      'Mail through the OAuth route',
      async () => {
        await send('Daily report (OAuth route)', routes.oauth, 'xoauth2');
        return `sent through ${routes.oauth} with XOAUTH2 and the connection's access token`;
      },
    ],
    [
      'The provider revokes the grant; tokenwarden diagnoses it',
      async () => {
        const after = (revokeMark = log.mark());
        const t0 = performance.now();
        const n = provider.revokeAll();
        say(`provider: alice removed the app's access (${n} grant revoked); every token of it is dead now.`);
        const e = await log.waitFor('diagnosis', (x) => x.type === 'reauth_required' && x.connection === C, {
          after,
          timeoutMs: ttlWait,
        });
        const s = await status();
        check(s.cause, 'no diagnosed cause recorded');
        say(
          `the next proactive refresh got invalid_grant ${((performance.now() - t0) / 1000).toFixed(1)} s later (${clock(e.at)}).`,
        );
        say(`diagnosis: ${s.cause.summary}`);
        say(`fix:       ${s.cause.fix}`);
        return `invalid_grant diagnosed as "${s.cause.id}"; state ${s.state}`;
      },
    ],
    [
      'Re-authorization requested',
      async () => {
        await log.waitFor('re-auth request', (x) => x.type === 'reauth_requested' && x.connection === C, {
          after: revokeMark,
          timeoutMs: ttlWait,
        });
        // Asking again is safe: one open flow per connection, so this returns the daemon's flow once it was sent.
        const flow = await daemon.orchestrator.requestReauth(C);
        check(flow.askedVia.includes('human'), 'the human was not asked');
        say(
          `the daemon opened a fresh flow and asked the human via ${channelNames(flow.askedVia)} at ${clock(flow.createdAt)} (link valid ${formatDuration(flow.expiresAt - Date.now())}).`,
        );
        try {
          await warden.accessToken(C);
          throw new StepFailed('a token was served for a dead grant');
        } catch (err) {
          check(
            err instanceof ReauthRequiredError,
            `callers got ${(err as Error).message} instead of ReauthRequiredError`,
          );
          say(`a caller asking for a token now gets ${err.code} at once, not a raw invalid_grant:`);
          say(`  "${err.message}"`);
          if (err.fallbacks.length) say(`  still works: ${err.fallbacks.join('; ')}`);
        }
        const s = await status();
        check(s.state === 'awaiting_human', `state is ${s.state}, expected awaiting_human`);
        return `state awaiting_human; asked via ${channelNames(flow.askedVia)}; callers get TW_REAUTH_REQUIRED with the cause and the fallback`;
      },
    ],
    [
      'Mail fails over to the App Password route',
      async () => {
        await send('Daily report (while OAuth is down)', routes.appPassword, 'password');
        return `the OAuth route is closed while "${C}" awaits its human; sent through ${routes.appPassword} with the App Password, no error to the caller`;
      },
    ],
    [
      "The human's paste and the instant exchange",
      async () => {
        const flow = (await status()).openFlow;
        check(flow, 'no open flow to answer');
        const pasted = await provider.approve(flow.url);
        say(`human: opened the link from the console message, approved, pasted ${masked(pasted)}`);
        const ms = await paste(pasted);
        const s = await status();
        check(s.state === 'healthy', `state is ${s.state}, expected healthy`);
        return `exchanged ${ms.toFixed(1)} ms after the paste (provider round trip included); healthy again ${since(flow.createdAt)} after the human was asked`;
      },
    ],
    [
      'Mail back on the OAuth route',
      async () => {
        await send('Daily report (OAuth again)', routes.oauth, 'xoauth2');
        return `the OAuth route closed its circuit as soon as "${C}" healed; sent through ${routes.oauth} with XOAUTH2`;
      },
    ],
  ];

  let failed = false;
  for (const [i, [title, fn]] of plan.entries()) {
    if (failed) {
      steps.push({ title, status: 'skipped', summary: 'skipped after an earlier failure' });
      continue;
    }
    out(`\n[${((performance.now() - started) / 1000).toFixed(1).padStart(5)}s] ${i + 1}. ${title}\n`);
    try {
      let timer: NodeJS.Timeout | undefined;
      const limit = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new StepFailed(`step did not finish within ${STEP_TIMEOUT_MS / 1000} s`)),
          STEP_TIMEOUT_MS,
        );
      });
      const summary = await Promise.race([fn(), limit]).finally(() => clearTimeout(timer));
      out(`        ✔ ${summary}\n`);
      steps.push({ title, status: 'ok', summary });
    } catch (err) {
      failed = true;
      const why = err instanceof Error ? err.message : String(err);
      out(`        ✘ ${why}\n`);
      steps.push({ title, status: 'failed', summary: why });
    }
  }
  log.detach();
  return { ok: !failed, steps, pasteMs, elapsedMs: performance.now() - started };
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
