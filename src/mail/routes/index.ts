/** Build a mailbox's routes from config (`mailboxes.<name>.send` / `.read`). */
import type { Clock } from '../../core/clock.js';
import type { TokenSource } from '../../core/types.js';
import type { Config, MailboxConfig } from '../../config/schema.js';
import { GmailRoute } from './gmail.js';
import { GraphRoute } from './graph.js';
import { ImapRoute } from './imap.js';
import { SmtpRoute } from './smtp.js';
import type { ReadRoute, SendRoute } from './types.js';

export type { ListQuery, NormalisedMessage, ReadRoute, RouteKind, SendMeta, SendRoute } from './types.js';
export { GmailRoute, GMAIL_API_BASE } from './gmail.js';
export { GraphRoute, GRAPH_API_BASE } from './graph.js';
export { SmtpRoute, classifySmtp } from './smtp.js';
export { ImapRoute, classifyImap } from './imap.js';
export { classifyHttp } from './http.js';

export interface RouteDeps {
  config: Pick<Config, 'connections'>;
  tokens: TokenSource;
  clock: Clock;
  fetch: typeof fetch;
}

type ApiTarget = string | { connection: string; api_base?: string | undefined };
type ServerRouteConfig = Extract<MailboxConfig['send'][number], { smtp: unknown }>['smtp'];

function target(
  t: ApiTarget,
  deps: RouteDeps,
): { connection: string; apiBase: string | undefined; scopes: string[] | undefined } {
  const connection = typeof t === 'string' ? t : t.connection;
  const conn = deps.config.connections[connection];
  const apiBase = (typeof t === 'string' ? undefined : t.api_base) ?? conn?.api_base;
  return { connection, apiBase, scopes: conn?.scopes };
}

/** Route ids are unique per direction: a second `smtp:host` becomes `smtp:host#2`. */
function uniqueId(base: string, seen: Set<string>): string {
  let id = base;
  for (let i = 2; seen.has(id); i++) id = `${base}#${i}`;
  seen.add(id);
  return id;
}

/** Gmail and Graph routes serve both directions; the same object answers send and read. */
function apiRoute(
  r: { gmail: ApiTarget } | { graph: ApiTarget },
  deps: RouteDeps,
  seen: Set<string>,
): GmailRoute | GraphRoute {
  if ('gmail' in r) {
    const t = target(r.gmail, deps);
    seen.add(`gmail:${t.connection}`);
    return new GmailRoute({ ...deps, connection: t.connection, apiBase: t.apiBase, scopes: t.scopes });
  }
  const t = target(r.graph, deps);
  seen.add(`graph:${t.connection}`);
  return new GraphRoute({ ...deps, connection: t.connection, apiBase: t.apiBase });
}

/** SMTP/IMAP options from config (App Password or XOAUTH2 via a connection). */
function serverOptions(kind: 'smtp' | 'imap', s: ServerRouteConfig, deps: RouteDeps, seen: Set<string>) {
  return {
    id: uniqueId(`${kind}:${s.host}`, seen),
    host: s.host,
    port: s.port,
    secure: s.secure,
    starttls: s.starttls,
    user: s.user,
    password: s.password,
    connection: s.connection,
    tlsRejectUnauthorized: s.tls_reject_unauthorized,
    tokens: deps.tokens,
  };
}

export function buildSendRoutes(mb: MailboxConfig, deps: RouteDeps): SendRoute[] {
  const seen = new Set<string>();
  return mb.send.map((r): SendRoute =>
    'smtp' in r ? new SmtpRoute(serverOptions('smtp', r.smtp, deps, seen)) : apiRoute(r, deps, seen),
  );
}

export function buildReadRoutes(mb: MailboxConfig, deps: RouteDeps): ReadRoute[] {
  const seen = new Set<string>();
  return mb.read.map((r): ReadRoute =>
    'imap' in r ? new ImapRoute(serverOptions('imap', r.imap, deps, seen)) : apiRoute(r, deps, seen),
  );
}
