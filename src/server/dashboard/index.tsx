/**
 * `GET /` dashboard: sign-in by one-time link, connections with
 * their state and expiries, open flows with link, QR code and paste form, mailboxes, the event
 * timeline, live updates over server-sent events. Every page carries a strict CSP (no inline
 * script or style), frame denial and no-referrer; every form a CSRF token.
 */
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { streamSSE } from 'hono/streaming';
import { completeFlow } from '../../actions/complete-flow.js';
import { requestReauth } from '../../actions/request-reauth.js';
import { NotFoundError, TokenwardenError } from '../../core/errors.js';
import type { WardenEvent } from '../../core/types.js';
import { FailureBudget, clientAddress, secretsEqual } from '../auth.js';
import { reauthDeps, type ServerContext } from '../context.js';
import { DASHBOARD_FORM_BYTES, UNAUTHENTICATED_BODY_BYTES, smallBody } from '../guards.js';
import { DASHBOARD_CSS, DASHBOARD_JS } from './assets.js';
import { accountChangeReason } from '../../reauth/flows.js';
import { acceptedReply } from '../../reauth/replies.js';
import { loadModel, refusedChangeIn } from './model.js';
import { qrSvg } from './qr.js';
import { DashboardPage, Live, SignInPage } from './page.js';
import { SESSION_TTL_MS, sessionsFor, type Session } from './sessions.js';
import { partsOf } from '../../warden.js';

export { createLoginLink } from './sessions.js';

const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

const securityHeaders: MiddlewareHandler = async (c, next) => {
  await next();
  c.header('Content-Security-Policy', CSP);
  c.header('X-Frame-Options', 'DENY');
  c.header('Referrer-Policy', 'no-referrer');
  c.header('X-Content-Type-Options', 'nosniff');
  if (!c.res.headers.get('Cache-Control')) c.header('Cache-Control', 'no-store');
};

/** Heartbeat comment on the event stream so proxies keep it open. */
const SSE_HEARTBEAT_MS = 15_000;

/** What every dashboard route shares: the server context, sessions, the sign-in failure budget, cookies. */
interface DashboardScope {
  ctx: ServerContext;
  sessions: ReturnType<typeof sessionsFor>;
  budget: FailureBudget;
  secure(): boolean;
  cookieName(): string;
  current(c: Context): { id: string | undefined; session: Session | null };
  signedOut(c: Context): Response | Promise<Response>;
}

function dashboardScope(ctx: ServerContext): DashboardScope {
  const sessions = sessionsFor(ctx);
  const secure = (): boolean => ctx.baseUrl.startsWith('https:');
  const cookieName = (): string => (secure() ? '__Host-tw_session' : 'tw_session');
  return {
    ctx,
    sessions,
    budget: new FailureBudget(ctx.clock),
    secure,
    cookieName,
    current: (c) => {
      const id = getCookie(c, cookieName());
      return { id, session: sessions.get(id) };
    },
    signedOut: (c) => {
      c.status(401);
      return c.html(<SignInPage token={null} valid={false} />);
    },
  };
}

export function mountDashboard(app: Hono, ctx: ServerContext): void {
  const d = dashboardScope(ctx);
  const dash = new Hono();
  // Scoped to the dashboard's own paths: a sub-app's `use('*')` would also wrap routes other
  // parts of the server register later.
  for (const path of ['/', '/login', '/logout', '/assets/*', '/flows/*', '/connections/*', '/events/stream'])
    dash.use(path, securityHeaders);
  mountAssets(dash);
  mountSignIn(dash, d);
  mountPage(dash, d);
  mountFlowRoutes(dash, d);
  mountConnectionRoutes(dash, d);
  mountEventStream(dash, d);
  app.route('/', dash);
}

/** The page's script and style (no inline ones: the CSP forbids them). */
function mountAssets(dash: Hono): void {
  dash.get('/assets/dashboard.js', (c) => {
    c.header('Content-Type', 'text/javascript; charset=utf-8');
    c.header('Cache-Control', 'no-cache');
    return c.body(DASHBOARD_JS);
  });
  dash.get('/assets/dashboard.css', (c) => {
    c.header('Content-Type', 'text/css; charset=utf-8');
    c.header('Cache-Control', 'no-cache');
    return c.body(DASHBOARD_CSS);
  });
}

/** Sign-in by one-time link (a failure budget per address), sign-out. */
function mountSignIn(dash: Hono, d: DashboardScope): void {
  const { ctx, sessions, budget, secure, cookieName, current } = d;
  dash.get('/login', (c) => {
    const token = c.req.query('token') ?? null;
    // Looking does not use the link up (chat apps fetch links to preview them); signing in does.
    const valid = token !== null && sessions.loginTokenValid(token);
    // An unknown token shown here is a guess like a failed sign-in: it spends the same budget.
    if (token && !valid) {
      const wait = budget.spend(clientAddress(c));
      if (wait > 0) return tooManyFailures(c, wait);
    }
    return c.html(<SignInPage token={token} valid={valid} />, token && !valid ? 401 : 200);
  });

  // Read before anyone is known: a few KiB at most.
  dash.post('/login', smallBody(UNAUTHENTICATED_BODY_BYTES));
  for (const path of ['/logout', '/flows/complete', '/connections/:name/reauth'])
    dash.post(path, smallBody(DASHBOARD_FORM_BYTES));

  dash.post('/login', async (c) => {
    const client = clientAddress(c);
    const form = await formBody(c);
    const token = typeof form['token'] === 'string' ? form['token'] : '';
    // The link first: a valid one signs in whatever anyone else got wrong.
    const opened = sessions.login(token);
    if (!opened) {
      const wait = budget.spend(client);
      if (wait > 0) return tooManyFailures(c, wait);
      ctx.logger.warn('dashboard sign-in with an unknown, used or expired link', { client });
      return c.html(<SignInPage token={token || null} valid={false} />, 401);
    }
    ctx.logger.info('dashboard sign-in', { client });
    setCookie(c, cookieName(), opened.id, {
      httpOnly: true,
      sameSite: 'Strict',
      secure: secure(),
      path: '/',
      maxAge: Math.floor(SESSION_TTL_MS / 1000),
    });
    return c.redirect('/', 303);
  });

  dash.post('/logout', async (c) => {
    const { id, session } = current(c);
    if (session && (await csrfOk(c, session))) sessions.logout(id);
    deleteCookie(c, cookieName(), { path: '/', secure: secure() });
    return c.redirect('/login', 303);
  });
}

/** The dashboard page (whole, or the live part the script refreshes). */
function mountPage(dash: Hono, d: DashboardScope): void {
  const { ctx, current, signedOut } = d;
  dash.get('/', async (c) => {
    const { session } = current(c);
    if (!session) return signedOut(c);
    const model = await loadModel(ctx);
    const page =
      c.req.query('partial') === '1' ? (
        <Live model={model} session={session} />
      ) : (
        <DashboardPage model={model} session={session} />
      );
    const res = await c.html(page);
    session.flash = null;
    return res;
  });
}

/** An open flow's QR code, and the paste form (the complete-flow action). */
function mountFlowRoutes(dash: Hono, d: DashboardScope): void {
  const { ctx, current, signedOut } = d;
  dash.get('/flows/:id/qr.svg', async (c) => {
    if (!current(c).session) return c.text('Sign in first.', 401);
    const flow = await partsOf(ctx.warden).store.getFlow(c.req.param('id'));
    if (!flow || flow.status !== 'open') return c.text('No such open flow.', 404);
    const svg = await qrSvg(flow.url);
    if (svg === null)
      return c.text(
        `This link is too long for a QR code (${Buffer.byteLength(flow.url)} bytes); open it from the dashboard as text.`,
        422,
      );
    c.header('Content-Type', 'image/svg+xml');
    return c.body(svg);
  });

  dash.post('/flows/complete', async (c) => {
    const { session } = current(c);
    if (!session) return signedOut(c);
    const form = await formBody(c);
    if (!(await csrfOk(c, session, form))) return c.text('Stale or missing form token; reload the page.', 403);
    const input = typeof form['input'] === 'string' ? form['input'].trim() : '';
    try {
      const done = await completeFlow(ctx.orchestrator, input, { via: 'dashboard' });
      // With a warning (no refresh token came back) the notice says so, with the fix.
      session.flash = { kind: done.warning ? 'warn' : 'ok', text: acceptedReply(done) };
    } catch (err) {
      session.flash = { kind: 'error', text: messageOf(err, ctx) };
    }
    return c.redirect('/', 303);
  });
}

/** Ask for a (fresh) link, confirm a refused account change: the request-reauth action. */
function mountConnectionRoutes(dash: Hono, d: DashboardScope): void {
  const { ctx, current, signedOut } = d;
  dash.post('/connections/:name/reauth', async (c) => {
    const { session } = current(c);
    if (!session) return signedOut(c);
    if (!(await csrfOk(c, session))) return c.text('Stale or missing form token; reload the page.', 403);
    const name = c.req.param('name');
    try {
      known(ctx, name);
      const open = (await partsOf(ctx.warden).store.listOpenFlows(name))[0];
      await requestReauth(reauthDeps(ctx), name, { reason: 'manual', fresh: open !== undefined });
      session.flash = { kind: 'ok', text: `A ${open ? 'fresh ' : ''}link for ${name} is below.` };
    } catch (err) {
      session.flash = { kind: 'error', text: messageOf(err, ctx) };
    }
    return c.redirect('/', 303);
  });

  // The operator confirms a refused account change: a fresh link that accepts that one account.
  dash.post('/connections/:name/account-change', async (c) => {
    const { session } = current(c);
    if (!session) return signedOut(c);
    const form = await formBody(c);
    if (!(await csrfOk(c, session, form))) return c.text('Stale or missing form token; reload the page.', 403);
    const name = c.req.param('name');
    const flowId = typeof form['flow'] === 'string' ? form['flow'] : '';
    try {
      known(ctx, name);
      const events = await partsOf(ctx.warden).store.listEvents({ connection: name, newestFirst: true, limit: 10 });
      const refused = refusedChangeIn(events);
      if (!refused || refused.flowId !== flowId)
        throw new NotFoundError(`No refused account change of ${name} to confirm (reload the page).`);
      await requestReauth(reauthDeps(ctx), name, { reason: accountChangeReason(refused.completedAs), fresh: true });
      session.flash = {
        kind: 'ok',
        text: `Confirmed: the link for ${name} below switches it to ${refused.completedAs} (accepted only when completed as that account).`,
      };
    } catch (err) {
      session.flash = { kind: 'error', text: messageOf(err, ctx) };
    }
    return c.redirect('/', 303);
  });
}

/** Live updates: event ids and types over server-sent events. */
function mountEventStream(dash: Hono, d: DashboardScope): void {
  const { ctx, current } = d;
  dash.get('/events/stream', (c) => {
    if (!current(c).session) return c.text('Sign in first.', 401);
    return streamSSE(c, async (stream) => {
      const queue: WardenEvent[] = [];
      let wake: (() => void) | null = null;
      const onEvent = (e: WardenEvent): void => {
        queue.push(e);
        wake?.();
      };
      ctx.warden.events.on('event', onEvent);
      stream.onAbort(() => {
        ctx.warden.events.off('event', onEvent);
        wake?.();
      });
      await stream.writeSSE({ event: 'hello', data: '{}' });
      while (!stream.aborted && !stream.closed) {
        const e = queue.shift();
        if (e) {
          // Ids and types only: the page re-renders from the server, so nothing else needs to travel.
          await stream.writeSSE({
            event: 'warden',
            id: String(e.id),
            data: JSON.stringify({ id: e.id, type: e.type, connection: e.connection }),
          });
          continue;
        }
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, SSE_HEARTBEAT_MS);
          wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
        wake = null;
        if (queue.length === 0 && !stream.aborted) await stream.write(': ping\n\n');
      }
      ctx.warden.events.off('event', onEvent);
    });
  });
}

/** Throws NotFoundError for a connection that is not configured. */
function known(ctx: ServerContext, name: string): void {
  const { connections } = partsOf(ctx.warden);
  if (!connections.has(name)) throw new NotFoundError(`No connection named "${name}".`);
}

function tooManyFailures(c: Context, waitMs: number): Response {
  c.header('Retry-After', String(Math.ceil(waitMs / 1000)));
  return c.text('Too many failed sign-in attempts; wait a minute. A valid link still works.', 429);
}

async function csrfOk(c: Context, session: Session, form?: Record<string, unknown>): Promise<boolean> {
  const body = form ?? (await formBody(c));
  const token = body['_csrf'];
  return typeof token === 'string' && secretsEqual(token, session.csrf);
}

/** Errors from our own code carry safe messages; anything else is logged and summarised. */
function messageOf(err: unknown, ctx: ServerContext): string {
  if (err instanceof TokenwardenError) return err.message;
  ctx.logger.error('dashboard action failed', { error: err instanceof Error ? err.message : String(err) });
  return 'Something went wrong; see the server log.';
}

/** The posted form, or an empty one when the body is not a parseable form (a malformed multipart body must be a 4xx, not a 500). */
async function formBody(c: Context): Promise<Record<string, string | File>> {
  try {
    return (await c.req.parseBody()) as Record<string, string | File>;
  } catch {
    return {};
  }
}
