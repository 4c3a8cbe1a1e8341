/**
 * The steps of the demo's tour (tour.ts runs them in order), each a named function over the
 * shared {@link Tour}: it acts like the human or the provider would, says what happened, and
 * checks what it claims (the state, the route that carried the mail, what the SMTP server saw).
 */
import { performance } from 'node:perf_hooks';
import { formatDuration } from '../core/duration.js';
import { ReauthRequiredError, channelNames } from '../core/errors.js';
import type { ConnectionStatus, Warden } from '../warden.js';
import type { EventLog } from './event-log.js';
import { DEMO_CONNECTION as C, DEMO_MAILBOX, type Sandbox } from './sandbox.js';

/** What every step shares. */
export interface Tour {
  readonly sb: Sandbox;
  readonly warden: Warden;
  readonly log: EventLog;
  /** One narrated line, indented under the step's title. */
  readonly say: (s: string) => void;
  /** Paste reaching the daemon → tokens stored and the answer back, per paste (ms). */
  readonly pasteMs: number[];
  /** The event log mark taken just before the provider revoked the grant. */
  revokeMark: number;
}

/** A step's claim did not hold: the tour stops and the summary says why. */
export class StepFailed extends Error {}

/** How long a step waits for the scheduler (about two refresh cycles of the sandbox's short tokens). */
const TTL_WAIT_MS = 20_000;

function check(cond: unknown, what: string): asserts cond {
  if (!cond) throw new StepFailed(what);
}

/** Milliseconds below 10 s (the interesting range for the human's turn-around), else a duration. */
const since = (t: number): string =>
  Date.now() - t < 10_000 ? `${Date.now() - t} ms` : formatDuration(Date.now() - t);
const clock = (t: number): string => new Date(t).toISOString().slice(11, 19);
/** The pasted URL as shown on screen: the code and state are single-use secrets, so they are elided. */
const masked = (url: string): string => url.replace(/([?&](?:code|state|iss)=)[^&]*/g, '$1…');

async function status(t: Tour): Promise<ConnectionStatus> {
  return (await t.warden.status()).find((s) => s.name === C) as ConnectionStatus;
}

/** The human's paste, through the daemon's HTTP API (the same path as the dashboard's paste form). */
async function paste(t: Tour, redirectUrl: string): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(new URL('/api/v1/flows/complete', t.sb.daemon.baseUrl), {
    method: 'POST',
    headers: { authorization: `Bearer ${t.sb.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ input: redirectUrl }),
  });
  const ms = performance.now() - t0;
  const body = (await res.json()) as { error?: { message?: string } };
  check(res.ok, `the paste was refused (HTTP ${res.status}): ${body.error?.message ?? 'no reason given'}`);
  t.pasteMs.push(ms);
  return ms;
}

/** Send one message and check the route that carried it and how the SMTP server saw it authenticated. */
async function send(
  t: Tour,
  subject: string,
  expectRoute: string,
  expectAuth: 'xoauth2' | 'password',
): Promise<string> {
  const { smtp } = t.sb;
  const before = smtp.caught.length;
  const r = await t.warden
    .mailbox(DEMO_MAILBOX)
    .send({ to: 'bob@sandbox.test', subject, text: 'Sent by the tokenwarden demo.' });
  check(r.status === 'sent', `mail was ${r.status}${r.error ? `: ${r.error}` : ''}`);
  check(r.route === expectRoute, `mail went through ${r.route ?? 'no route'}, expected ${expectRoute}`);
  const got = smtp.caught[before];
  check(
    got && got.auth === expectAuth && got.messageId === r.messageId,
    `the SMTP server did not receive it with ${expectAuth}`,
  );
  return r.messageId;
}

/** Connect: the human approves the first link and pastes the redirect URL back. */
async function connect(t: Tour): Promise<string> {
  const flow = await t.sb.daemon.orchestrator.requestReauth(C, { reason: 'first authorization' });
  t.say(
    `tokenwarden opened an authorization-code flow (PKCE S256, single-use state, link valid ${formatDuration(flow.expiresAt - Date.now())})`,
  );
  t.say(`and asked the human via ${channelNames(flow.askedVia)} (the console message is on stderr).`);
  check(flow.askedVia.includes('human'), 'the console channel was not asked');
  const pasted = await t.sb.provider.approve(flow.url);
  t.say(`human: opened the link, signed in as alice, approved; the browser ended on`);
  t.say(`       ${masked(pasted)}  → pasted it.`);
  const ms = await paste(t, pasted);
  const s = await status(t);
  check(s.state === 'healthy', `state is ${s.state}, expected healthy`);
  // The daemon probed its mail routes at start, before there was a grant; probe again now.
  const probed = await (await t.warden.mail()).probeAll();
  const oauthRoute = probed.find((h) => h.route === t.sb.routes.oauth && h.direction === 'send');
  check(
    oauthRoute?.ok === true && oauthRoute.circuit.state === 'closed',
    `the OAuth mail route is not ready: ${oauthRoute?.error ?? oauthRoute?.circuit.reason ?? 'unknown'}`,
  );
  t.say(`mail routes probed again: ${t.sb.routes.oauth} (XOAUTH2 with the new token) is ready.`);
  return `code exchanged and tokens stored ${ms.toFixed(1)} ms after the paste; "${C}" is healthy as ${s.account ?? '?'}`;
}

/** Two proactive refreshes, each storing the rotated refresh token. */
async function proactiveRefreshes(t: Tour): Promise<string> {
  let after = t.log.mark();
  const lines: string[] = [];
  for (let i = 1; i <= 2; i++) {
    const e = await t.log.waitFor('proactive refresh', (x) => x.type === 'refreshed' && x.connection === C, {
      after,
      timeoutMs: TTL_WAIT_MS,
    });
    after = e.id;
    const exp = typeof e.data?.['expiresAt'] === 'number' ? e.data['expiresAt'] : null;
    const rotated = e.data?.['rotated'] === true;
    t.say(
      `refresh ${i} at ${clock(e.at)}: before expiry, new access token valid until ${exp ? clock(exp) : '?'}; refresh token rotated: ${rotated ? 'yes, new one stored before use' : 'no'}`,
    );
    check(rotated, 'the provider rotates refresh tokens, but the refresh did not store a new one');
    lines.push(clock(e.at));
  }
  return `the scheduler refreshed ahead of expiry twice (${lines.join(', ')}), storing each rotated refresh token`;
}

/** Mail through the OAuth route (XOAUTH2). */
async function mailOAuth(t: Tour): Promise<string> {
  await send(t, 'Daily report (OAuth route)', t.sb.routes.oauth, 'xoauth2');
  return `sent through ${t.sb.routes.oauth} with XOAUTH2 and the connection's access token`;
}

/** The provider revokes the grant; the next refresh is diagnosed. */
async function revoked(t: Tour): Promise<string> {
  const after = (t.revokeMark = t.log.mark());
  const t0 = performance.now();
  const n = t.sb.provider.revokeAll();
  t.say(`provider: alice removed the app's access (${n} grant revoked); every token of it is dead now.`);
  const e = await t.log.waitFor('diagnosis', (x) => x.type === 'reauth_required' && x.connection === C, {
    after,
    timeoutMs: TTL_WAIT_MS,
  });
  const s = await status(t);
  check(s.cause, 'no diagnosed cause recorded');
  t.say(
    `the next proactive refresh got invalid_grant ${((performance.now() - t0) / 1000).toFixed(1)} s later (${clock(e.at)}).`,
  );
  t.say(`diagnosis: ${s.cause.summary}`);
  t.say(`fix:       ${s.cause.fix}`);
  return `invalid_grant diagnosed as "${s.cause.id}"; state ${s.state}`;
}

/** A fresh flow is sent to the human; callers get ReauthRequiredError. */
async function reauthRequested(t: Tour): Promise<string> {
  await t.log.waitFor('re-auth request', (x) => x.type === 'reauth_requested' && x.connection === C, {
    after: t.revokeMark,
    timeoutMs: TTL_WAIT_MS,
  });
  // Asking again is safe: one open flow per connection, so this returns the daemon's flow once it was sent.
  const flow = await t.sb.daemon.orchestrator.requestReauth(C);
  check(flow.askedVia.includes('human'), 'the human was not asked');
  t.say(
    `the daemon opened a fresh flow and asked the human via ${channelNames(flow.askedVia)} at ${clock(flow.createdAt)} (link valid ${formatDuration(flow.expiresAt - Date.now())}).`,
  );
  try {
    await t.warden.accessToken(C);
    throw new StepFailed('a token was served for a dead grant');
  } catch (err) {
    check(err instanceof ReauthRequiredError, `callers got ${(err as Error).message} instead of ReauthRequiredError`);
    t.say(`a caller asking for a token now gets ${err.code} at once, not a raw invalid_grant:`);
    t.say(`  "${err.message}"`);
    if (err.fallbacks.length) t.say(`  still works: ${err.fallbacks.join('; ')}`);
  }
  const s = await status(t);
  check(s.state === 'awaiting_human', `state is ${s.state}, expected awaiting_human`);
  return `state awaiting_human; asked via ${channelNames(flow.askedVia)}; callers get TW_REAUTH_REQUIRED with the cause and the fallback`;
}

/** Mail fails over to the App Password route. */
async function failover(t: Tour): Promise<string> {
  await send(t, 'Daily report (while OAuth is down)', t.sb.routes.appPassword, 'password');
  return `the OAuth route is closed while "${C}" awaits its human; sent through ${t.sb.routes.appPassword} with the App Password, no error to the caller`;
}

/** The human's paste, exchanged at once. */
async function humanPastes(t: Tour): Promise<string> {
  const flow = (await status(t)).openFlow;
  check(flow, 'no open flow to answer');
  const pasted = await t.sb.provider.approve(flow.url);
  t.say(`human: opened the link from the console message, approved, pasted ${masked(pasted)}`);
  const ms = await paste(t, pasted);
  const s = await status(t);
  check(s.state === 'healthy', `state is ${s.state}, expected healthy`);
  return `exchanged ${ms.toFixed(1)} ms after the paste (provider round trip included); healthy again ${since(flow.createdAt)} after the human was asked`;
}

/** Mail back on the OAuth route once healed. */
async function mailBack(t: Tour): Promise<string> {
  await send(t, 'Daily report (OAuth again)', t.sb.routes.oauth, 'xoauth2');
  return `the OAuth route closed its circuit as soon as "${C}" healed; sent through ${t.sb.routes.oauth} with XOAUTH2`;
}

/** The story, in order. */
export const TOUR_STEPS: ReadonlyArray<readonly [string, (t: Tour) => Promise<string>]> = [
  ['Connect: the human authorizes the agent', connect],
  ['Proactive refreshes with rotation', proactiveRefreshes],
  ['Mail through the OAuth route', mailOAuth],
  ['The provider revokes the grant; tokenwarden diagnoses it', revoked],
  ['Re-authorization requested', reauthRequested],
  ['Mail fails over to the App Password route', failover],
  ["The human's paste and the instant exchange", humanPastes],
  ['Mail back on the OAuth route', mailBack],
];
