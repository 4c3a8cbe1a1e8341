/**
 * Pure: turn a connection's status, its open flow and the mail routes into the facts an agent
 * acts on, and into plain sentences ("Gmail is waiting for re-authorization since 10:02 UTC,
 * asked via telegram; sending still works through the SMTP fallback"). No I/O, no secrets:
 * the inputs carry none (status rows and route health never hold a token).
 */
import type { Config } from '../config/schema.js';
import { formatDuration } from '../core/duration.js';
import { channelNames, type DiagnosedCause } from '../core/errors.js';
import { needsHuman, type ConnectionState } from '../core/types.js';
import type { RouteHealth } from '../mail/route-slot.js';
import type { LearnedView } from '../keeper/learned.js';
import { causeLine } from '../providers/causes.js';
import { connectionView, iso, type ConnectionStatus, type ConnectionView } from '../actions/status-view.js';

/** A mail route as the agent needs to know it: what it is, what it depends on, whether it is up. */
export interface RouteFact {
  mailbox: string;
  direction: 'send' | 'read';
  route: string;
  /** `oauth` (uses a connection's token) or `app password` (a static secret). */
  auth: 'oauth' | 'app password';
  connection: string | null;
  usable: boolean;
  why?: string;
}

/**
 * A connection as an agent needs it: the one status view every face serialises
 * (actions/status-view.ts), plus whether it serves now, what still works and what to do next.
 */
export interface AgentConnectionView extends ConnectionView {
  /** Can a caller get a token right now? */
  serving: boolean;
  /** When the connection stopped serving (the last `reauth_required` event), if it did. */
  since: string | null;
  /** The human-assisted flow in progress: the link for the human, when and where they were asked. */
  asked: {
    flow_id: string;
    link: string;
    user_code: string | null;
    asked_at: string;
    via: string[];
    link_expires_at: string;
  } | null;
  /** What the agent can still do without this connection (App Password routes, other connections). */
  still_works: string[];
  /** What is unavailable until this connection heals. */
  unavailable: string[];
  /** What the agent should do next, if anything. */
  next_step: string | null;
  sentence: string;
}

/** `10:02 UTC` (plus the date when it is not today). */
export function at(t: number, now: number): string {
  const d = new Date(t).toISOString();
  const day = d.slice(0, 10) === new Date(now).toISOString().slice(0, 10);
  return `${day ? '' : `${d.slice(0, 10)} `}${d.slice(11, 16)} UTC`;
}

const ago = (t: number, now: number): string => (now - t < 60_000 ? 'just now' : `${formatDuration(now - t)} ago`);

/** Which routes of which mailboxes depend on `conn`, and which still work without it. */
export function routeFacts(
  config: Pick<Config, 'mailboxes'>,
  health: RouteHealth[],
  states: ReadonlyMap<string, ConnectionState>,
): RouteFact[] {
  return health
    .map((h) => {
      const connState = h.connection ? states.get(h.connection) : undefined;
      const deadConn = connState !== undefined && needsHuman(connState);
      const open = h.circuit.state === 'open';
      const usable = !deadConn && !open;
      const fact: RouteFact = {
        mailbox: h.mailbox,
        direction: h.direction,
        route: h.route,
        auth: h.connection ? 'oauth' : 'app password',
        connection: h.connection,
        usable,
      };
      if (deadConn) fact.why = `connection ${h.connection} is ${connState}`;
      else if (open) fact.why = h.circuit.reason ?? 'circuit open';
      return fact;
    })
    .filter((f) => config.mailboxes[f.mailbox] !== undefined);
}

const verb = (d: 'send' | 'read'): string => (d === 'send' ? 'sending' : 'reading');
const routeLabel = (r: RouteFact): string =>
  `${r.route}${r.auth === 'app password' ? ' (App Password)' : ` (OAuth via ${r.connection ?? '?'})`}`;

/** Why the renewal comes earlier than the provider's documented rules say. */
function learnedSentence(l: LearnedView): string {
  const c = l.cause as DiagnosedCause;
  return `Tokenwarden learned from ${l.deaths === 1 ? 'how the last grant died' : `${l.deaths} earlier deaths`} that grants last about ${formatDuration(l.lifetimeMs)} from consent and plans the renewal before that: ${causeLine(c)}`;
}

/** What describing a connection needs besides its status. */
export interface DescribeOptions {
  now: number;
  displayName: string;
  routes: RouteFact[];
  deadSince: number | null;
  notify: string[];
  /** Configured channels (their types name them in sentences). */
  channels?: Readonly<Record<string, { type: string }>>;
}

/** Facts and one paragraph about one connection. */
export function describeConnection(s: ConnectionStatus, o: DescribeOptions): AgentConnectionView {
  const waitsForHuman = needsHuman(s.state);
  const { stillWorks, unavailable } = mailCapabilities(s.name, o.routes, waitsForHuman);
  const { parts, next: stateNext } = stateSentences(s, o);
  let next = stateNext;
  if (stillWorks.length) parts.push(`Still works: ${stillWorks.join('; ')}.`);
  if (unavailable.length)
    parts.push(
      `Unavailable until ${s.name} is ${waitsForHuman ? 're-authorized' : 'healthy'}: ${unavailable.join('; ')}.`,
    );
  const f = s.openFlow;
  if (waitsForHuman && f)
    next = `Wait for the human (or call credential_status again later); do not ask again before ${at(f.expiresAt, o.now)}.`;
  return {
    ...connectionView(s, o.now),
    serving: !waitsForHuman,
    since: waitsForHuman ? iso(o.deadSince) : null,
    asked: f
      ? {
          flow_id: f.id,
          link: f.url,
          user_code: f.userCode,
          asked_at: new Date(f.createdAt).toISOString(),
          via: f.askedVia,
          link_expires_at: new Date(f.expiresAt).toISOString(),
        }
      : null,
    still_works: stillWorks,
    unavailable,
    next_step: next,
    sentence: parts.filter(Boolean).join(' '),
  };
}

/** Mail capabilities that depend on this connection: per mailbox and direction, is there another way? */
function mailCapabilities(
  name: string,
  routes: RouteFact[],
  waitsForHuman: boolean,
): { stillWorks: string[]; unavailable: string[] } {
  const stillWorks: string[] = [];
  const unavailable: string[] = [];
  const groups = new Map<string, RouteFact[]>();
  for (const r of routes)
    groups.set(`${r.mailbox}\u0000${r.direction}`, [...(groups.get(`${r.mailbox}\u0000${r.direction}`) ?? []), r]);
  for (const rs of groups.values()) {
    const first = rs[0] as RouteFact;
    if (!rs.some((r) => r.connection === name)) continue;
    const what = `${verb(first.direction)} mail from mailbox ${first.mailbox}`;
    const alt = rs.find((r) => r.usable && (!waitsForHuman || r.connection !== name));
    if (alt) stillWorks.push(`${what} through ${routeLabel(alt)}${alt.connection !== name ? ' as a fallback' : ''}`);
    else unavailable.push(`${what} (no other ${first.direction} route works)`);
  }
  return { stillWorks, unavailable };
}

/** Where and when the human was asked, or that nobody received the link. */
function askedSentence(s: ConnectionStatus, o: DescribeOptions): string {
  const f = s.openFlow;
  if (!f) return '';
  return f.askedVia.length
    ? `The human was asked via ${channelNames(f.askedVia, o.channels)} at ${at(f.createdAt, o.now)} (${ago(f.createdAt, o.now)}); the link expires at ${at(f.expiresAt, o.now)}.`
    : `A link is open since ${at(f.createdAt, o.now)} but no channel delivered it: give the human the link (${f.url}) or call request_reauthorization with a channel.`;
}

/** The sentences for the connection's state, and what the agent should do next. */
function stateSentences(s: ConnectionStatus, o: DescribeOptions): { parts: string[]; next: string | null } {
  const { now } = o;
  const label = `${s.name} (${o.displayName}${s.account ? `, ${s.account}` : ''})`;
  const f = s.openFlow;
  const parts: string[] = [];
  let next: string | null = null;
  switch (s.state) {
    case 'healthy':
    case 'refreshing':
      parts.push(
        `${label} is healthy${s.accessExpiresAt ? `: the current access token is valid until ${at(s.accessExpiresAt, now)} and is refreshed automatically before then` : ''}.`,
      );
      if (s.refreshExpiresAt)
        parts.push(
          `Its refresh token is predicted to last until ${at(s.refreshExpiresAt, now)}; ${s.plannedRenewalAt ? `the human will be asked to renew it at ${at(s.plannedRenewalAt, now)}` : 'a renewal is requested ahead of that'}.`,
        );
      if (s.learned?.cause) parts.push(learnedSentence(s.learned));
      break;
    case 'expiring':
      parts.push(
        `${label} works now, but its refresh token is predicted to die at ${s.refreshExpiresAt ? at(s.refreshExpiresAt, now) : 'soon'}.`,
      );
      if (s.cause) parts.push(causeLine(s.cause));
      else if (s.learned?.cause) parts.push(learnedSentence(s.learned));
      parts.push(f ? askedSentence(s, o) : 'A renewal will be requested from the human ahead of that.');
      break;
    case 'degraded':
      parts.push(
        `${label} cannot reach its provider right now (${s.lastError ?? 'transient failure'}); tokenwarden keeps serving the unexpired access token and retries with backoff. No human action is needed.`,
      );
      break;
    case 'unauthorized':
      parts.push(`${label} has never been authorized.`);
      if (f) parts.push(askedSentence(s, o));
      else next = 'Call request_reauthorization to send the human an authorization link.';
      break;
    case 'reauth_required':
    case 'awaiting_human': {
      const since = o.deadSince ? ` since ${at(o.deadSince, now)}` : '';
      parts.push(
        f && f.askedVia.length
          ? `${label} is waiting for re-authorization${since}.`
          : `${label} needs re-authorization${since}.`,
      );
      if (s.cause) parts.push(`Cause: ${causeLine(s.cause)}`);
      if (f) parts.push(askedSentence(s, o));
      else {
        next =
          'Call request_reauthorization to send the human a link' +
          (o.notify.length ? ` (configured: ${channelNames(o.notify, o.channels)}).` : '.');
        parts.push(`Nobody has been asked yet. ${next}`);
      }
      break;
    }
  }
  return { parts, next };
}
