/**
 * The dashboard, server-rendered with Hono JSX. JSX escapes every string it renders; nothing
 * here uses raw HTML. No token, code or verifier is ever passed in: only connection views
 * (actions/status-view.ts), flow links and event texts, which never carry secrets.
 */
import type { FC, PropsWithChildren } from 'hono/jsx';
import { formatDuration } from '../../core/duration.js';
import type { DiagnosedCause } from '../../core/errors.js';
import type { WardenEvent } from '../../core/types.js';
import type { MailboxStatus } from '../../mail/index.js';
import { causeSentence } from '../../providers/causes.js';
import type { ConnectionView } from '../../actions/status-view.js';
import type { DashboardModel } from './model.js';
import { qrFits } from './qr.js';
import type { Session } from './sessions.js';

const STATE_WORDS: Record<string, string> = {
  unauthorized: 'not authorized yet',
  healthy: 'healthy',
  refreshing: 'refreshing',
  degraded: 'degraded — provider unreachable, serving the current token',
  expiring: 'expiring — renewal planned',
  reauth_required: 'needs re-authorization',
  awaiting_human: 'waiting for you to re-authorize',
};

const When: FC<{ at: string | null; countdown?: boolean }> = ({ at, countdown }) =>
  at === null ? (
    <span class="k">unknown</span>
  ) : countdown ? (
    <time datetime={at} data-countdown="">
      {at}
    </time>
  ) : (
    <time datetime={at}>{at.replace('T', ' ').replace(/\.\d+Z$/, ' UTC')}</time>
  );

export const Layout: FC<PropsWithChildren<{ title: string; session?: Session | null }>> = ({
  title,
  session,
  children,
}) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <meta name="referrer" content="no-referrer" />
      <title>{title}</title>
      <link rel="stylesheet" href="/assets/dashboard.css" />
    </head>
    <body>
      <header>
        <h1>tokenwarden</h1>
        {session ? (
          <>
            <span id="conn-status">connecting…</span>
            <form method="post" action="/logout">
              <input type="hidden" name="_csrf" value={session.csrf} />
              <button class="secondary" type="submit">
                Sign out
              </button>
            </form>
          </>
        ) : null}
      </header>
      <main>{children}</main>
      {session ? <script src="/assets/dashboard.js" defer></script> : null}
    </body>
  </html>
);

const Csrf: FC<{ session: Session }> = ({ session }) => <input type="hidden" name="_csrf" value={session.csrf} />;

const EventLine: FC<{ e: WardenEvent; withConnection?: boolean }> = ({ e, withConnection }) => (
  <li data-event-id={String(e.id)}>
    <span class="ev-type">{e.type}</span> {withConnection && e.connection ? <strong>{e.connection}</strong> : null}{' '}
    <span class="msg">{e.message}</span>{' '}
    <span class="k">
      <When at={new Date(e.at).toISOString()} countdown />
    </span>
  </li>
);

/** What happened ("Likely cause (inferred…):" first when it is a guess) and the fix. */
const Cause: FC<{ cause: DiagnosedCause }> = ({ cause }) => (
  <div class="cause" data-cause={cause.id} data-confidence={cause.confidence ?? 'unknown'}>
    <div>{causeSentence(cause)}</div>
    <div class="fix">Fix: {cause.fix}</div>
  </div>
);

/**
 * The lifetime learned from how earlier grants died, which moves the renewal earlier, with its
 * diagnosis — unless the connection's current cause already says the same.
 */
const Learned: FC<{ c: ConnectionView }> = ({ c }) => {
  const l = c.learned_lifetime;
  if (!l) return null;
  const cause = l.cause && l.cause.id !== c.cause?.id ? l.cause : null;
  return (
    <div class="learned" data-testid="learned">
      <div>
        Renewal planned before {formatDuration(l.seconds * 1000)} after consent (learned from {l.deaths}{' '}
        {l.deaths === 1 ? 'death' : 'deaths'} of earlier grants).
      </div>
      {cause ? <Cause cause={cause} /> : null}
    </div>
  );
};

const FlowCard: FC<{ c: ConnectionView; session: Session }> = ({ c, session }) => {
  const f = c.open_flow;
  if (!f) return null;
  return (
    <div class="card flow" id={`flow-${f.id}`} data-connection={c.name}>
      <div class="row">
        <strong>{c.name}</strong>
        <span class={`badge ${c.state}`}>{c.state}</span>
        <span class="k">
          link expires <When at={f.expires_at} countdown />
        </span>
      </div>
      {c.cause ? <Cause cause={c.cause} /> : null}
      <p>
        1. Open this link and approve access{f.user_code ? ' (code ' : ''}
        {f.user_code ? <code class="user-code">{f.user_code}</code> : null}
        {f.user_code ? ')' : ''}:
        <br />
        <a class="flow-link" href={f.url} target="_blank" rel="noopener noreferrer">
          {f.url}
        </a>
      </p>
      {qrFits(f.url) ? (
        <img
          class="qr"
          src={`/flows/${encodeURIComponent(f.id)}/qr.svg`}
          alt={`QR code of the ${c.name} authorization link`}
          width="192"
          height="192"
        />
      ) : (
        <p class="k qr-none">This link is too long for a QR code: open it from the text above.</p>
      )}
      {f.kind === 'auth_code' ? (
        <form method="post" action="/flows/complete" class="paste">
          <label for={`paste-${f.id}`}>
            2. Paste the address your browser ended on (it may show an error page — that is fine):
          </label>
          <textarea
            id={`paste-${f.id}`}
            name="input"
            required
            autocomplete="off"
            spellcheck={false}
            placeholder="http://127.0.0.1:…/oauth/callback?code=…&state=…"
          ></textarea>
          <Csrf session={session} />
          <button type="submit">Complete</button>
        </form>
      ) : (
        <p class="k">Nothing to paste: tokenwarden notices the approval by itself.</p>
      )}
    </div>
  );
};

const ConnectionCard: FC<{ c: DashboardModel['connections'][number]; session: Session }> = ({ c, session }) => (
  <div class={`card ${c.state}`} id={`conn-${c.name}`} data-state={c.state}>
    <div class="row">
      <strong>{c.name}</strong>
      <span class={`badge ${c.state}`} data-testid="state">
        {c.state}
      </span>
      <span class="k">
        {c.provider} · {c.kind}
        {c.account ? ' · ' : ''}
        {c.account ? <span class="account">{c.account}</span> : null}
      </span>
    </div>
    <p class="k">{STATE_WORDS[c.state] ?? c.state}</p>
    <div class="row">
      <span>
        <span class="k">access token expires </span>
        <When at={c.access_expires_at} countdown />
      </span>
      <span>
        <span class="k">refresh token predicted to die </span>
        <When at={c.refresh_expires_at} />
      </span>
      {c.renewal_planned_at ? (
        <span>
          <span class="k">renewal planned </span>
          <When at={c.renewal_planned_at} />
        </span>
      ) : null}
      <span>
        <span class="k">last refresh </span>
        <When at={c.last_refresh_at} countdown />
      </span>
    </div>
    <Learned c={c} />
    {c.cause ? <Cause cause={c.cause} /> : c.last_error ? <p class="k">Last error: {c.last_error}</p> : null}
    {c.recent.length ? (
      <ol class="timeline">
        {c.recent.map((e) => (
          <EventLine e={e} />
        ))}
      </ol>
    ) : null}
    {c.refusedChange ? (
      <form method="post" action={`/connections/${encodeURIComponent(c.name)}/account-change`} class="cause">
        <Csrf session={session} />
        <input type="hidden" name="flow" value={c.refusedChange.flowId} />
        <div>
          A re-authorization was completed as {c.refusedChange.completedAs}, but {c.name} belongs to{' '}
          {c.refusedChange.belongsTo}; it was refused.
        </div>
        <button class="secondary" type="submit">
          Confirm the change to {c.refusedChange.completedAs} (sends a link that accepts that account)
        </button>
      </form>
    ) : null}
    {c.kind === 'oauth' ? (
      <form method="post" action={`/connections/${encodeURIComponent(c.name)}/reauth`}>
        <Csrf session={session} />
        <button class="secondary" type="submit">
          {c.open_flow ? 'Send a fresh link' : 'Re-authorize now'}
        </button>
      </form>
    ) : null}
  </div>
);

const MailboxCard: FC<{ m: MailboxStatus }> = ({ m }) => (
  <div class="card" id={`mailbox-${m.name}`}>
    <div class="row">
      <strong>{m.name}</strong>
      <span class="k">{m.address}</span>
    </div>
    <table>
      <thead>
        <tr>
          <th>route</th>
          <th>dir</th>
          <th>health</th>
          <th>circuit</th>
        </tr>
      </thead>
      <tbody>
        {m.routes.map((r) => (
          <tr>
            <td>{r.route}</td>
            <td>{r.direction}</td>
            <td>{r.ok === null ? 'not probed' : r.ok ? 'ok' : `failing${r.error ? `: ${r.error}` : ''}`}</td>
            <td>{r.circuit.state}</td>
          </tr>
        ))}
      </tbody>
    </table>
    <p class="k outbox">
      outbox: {m.outbox.pending} pending · {m.outbox.sending} sending · {m.outbox.failed} failed · {m.outbox.sent} sent
      {m.outbox.oldestPendingAgeMs !== null
        ? ` · oldest waiting ${Math.round(m.outbox.oldestPendingAgeMs / 1000)}s`
        : ''}
    </p>
  </div>
);

/** The part of the page that live updates replace (`GET /?partial=1`). */
export const Live: FC<{ model: DashboardModel; session: Session }> = ({ model, session }) => {
  const flows = model.connections.filter((c) => c.open_flow);
  return (
    <>
      {session.flash ? (
        <div class={`notice ${session.flash.kind}`} role="status">
          {session.flash.text}
        </div>
      ) : null}
      {flows.length ? (
        <section id="flows">
          <h2>Needs you</h2>
          {flows.map((c) => (
            <FlowCard c={c} session={session} />
          ))}
        </section>
      ) : null}
      <section id="connections">
        <h2>Connections</h2>
        {model.connections.length ? (
          model.connections.map((c) => <ConnectionCard c={c} session={session} />)
        ) : (
          <p class="k">No connections configured.</p>
        )}
      </section>
      {model.mailboxes ? (
        <section id="mailboxes">
          <h2>Mailboxes</h2>
          {model.mailError ? <p class="notice error">{model.mailError}</p> : null}
          {model.mailboxes.map((m) => (
            <MailboxCard m={m} />
          ))}
        </section>
      ) : null}
      <section id="timeline">
        <h2>Events</h2>
        <ol class="timeline">
          {model.timeline.map((e) => (
            <EventLine e={e} withConnection />
          ))}
        </ol>
      </section>
    </>
  );
};

export const DashboardPage: FC<{ model: DashboardModel; session: Session }> = ({ model, session }) => (
  <Layout title="tokenwarden" session={session}>
    <div id="live">
      <Live model={model} session={session} />
    </div>
  </Layout>
);

export const SignInPage: FC<{ token: string | null; valid: boolean }> = ({ token, valid }) => (
  <Layout title="tokenwarden — sign in">
    {valid && token ? (
      <form method="post" action="/login">
        <p>Sign in to the tokenwarden dashboard on this device.</p>
        <input type="hidden" name="token" value={token} />
        <button type="submit" id="sign-in">
          Sign in
        </button>
      </form>
    ) : (
      <>
        <p>
          {token
            ? 'This sign-in link was already used or has expired.'
            : 'Sign in with the one-time link printed by tokenwarden serve.'}
        </p>
        <p class="k">
          A new link: restart <code>tokenwarden serve</code>, or ask the API:{' '}
          <code>POST /api/v1/dashboard/login-link</code> with the API key.
        </p>
      </>
    )}
  </Layout>
);
