/**
 * The daemon's watch over everything that is not an OAuth grant but still has to work when the
 * grant dies: notification channels, App Password mail routes, client secrets and
 * service-account keys. At start and then every `intervalMs`:
 *
 * - every channel with a cheap check is checked (Telegram `getMe` + `getChat`, HTTP channels:
 *   the server answers) — nothing is sent;
 * - at start, every client-credentials secret and service-account key is tried with a token
 *   request (a connection left dead by an earlier run is tried again: the config may have been
 *   fixed); later, the scheduler's refreshes of those connections are the check;
 *   a refusal names the secret and where to rotate it, and never opens a browser flow;
 * - mail routes are probed by the mail service (SMTP login, IMAP login + NOOP); their failures
 *   arrive here as events.
 *
 * A check that starts failing reaches the human once, with its cause and fix, through every
 * channel that still works; its recovery is announced the same way. "Only one route still
 * works" (and "only one channel") is a warning in {@link HealthWatch.snapshot}, which `/healthz`
 * and `tokenwarden status` show.
 */
import type { EventEmitter } from 'node:events';
import type { Channel, ChannelMessage } from '../channels/types.js';
import type { Clock } from '../core/clock.js';
import { TokenwardenError } from '../core/errors.js';
import { redact, type Logger } from '../core/logger.js';
import { grantDied, type EventSink, type WardenEvent } from '../core/types.js';
import type { MailService } from '../mail/index.js';
import type { Config } from '../config/schema.js';
import type { Keeper } from '../keeper/keeper.js';
import type { ConnectionRuntime } from '../keeper/runtime.js';
import type { Store } from '../store/types.js';

/** What the health watch uses; the root builds it (docs/architecture.md, "The object graph"). */
export interface HealthWatchDeps {
  config: Pick<Config, 'channels' | 'mailboxes'>;
  connections: ReadonlyMap<string, ConnectionRuntime>;
  store: Pick<Store, 'getConnection' | 'updateConnection'>;
  keeper: Pick<Keeper, 'forceRefresh'>;
  sink: EventSink;
  /** Where recorded events are emitted (`event`). */
  events: EventEmitter;
  deps: { clock: Clock; logger: Logger };
}

export interface HealthCheck {
  /** `channel:<name>`, `route:<mailbox>:<send|read>:<route id>`, `secret:<connection>`. */
  subject: string;
  ok: boolean;
  /** What failed, in words (never a secret). */
  detail: string | null;
  fix: string | null;
  checkedAt: number;
}

export interface HealthSnapshot {
  checks: HealthCheck[];
  /** A single remaining route or channel, or none: what an operator should fix before it matters. */
  warnings: string[];
}

export interface HealthWatchOptions {
  channels: Map<string, Channel>;
  mail?: MailService | undefined;
  clock?: Clock;
  logger?: Logger;
  /** Check again this often (default 30 min); 0: at start only. */
  intervalMs?: number;
  /** Token requests at once when checking secrets (default 8). */
  concurrency?: number;
}

export class HealthWatch {
  private readonly state = new Map<string, HealthCheck>();
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly intervalMs: number;
  private readonly concurrency: number;
  private abort: AbortController | null = null;
  private loop: Promise<void> | null = null;
  private readonly pending = new Set<Promise<unknown>>();
  private readonly onEvent = (e: WardenEvent): void => {
    if (e.connection && this.secretKinds(e.connection)) this.secretEvent(e.connection, e);
    if (e.type === 'route_closed') this.track(this.syncRoutes()); // a route works again: say so now
    if (e.type !== 'probe_failed' || typeof e.data?.['route'] !== 'string') return;
    this.track(this.routeFailed(e));
  };

  constructor(
    private readonly warden: HealthWatchDeps,
    private readonly opts: HealthWatchOptions,
  ) {
    this.clock = opts.clock ?? warden.deps.clock;
    this.logger = opts.logger ?? warden.deps.logger;
    this.intervalMs = opts.intervalMs ?? 30 * 60_000;
    this.concurrency = Math.max(1, opts.concurrency ?? 8);
  }

  /** Listen for route probe failures, then check everything now and on the interval. */
  start(): void {
    if (this.loop) return;
    this.warden.events.on('event', this.onEvent);
    const ac = new AbortController();
    this.abort = ac;
    this.loop = (async () => {
      for (let first = true; !ac.signal.aborted; first = false) {
        await this.checkAll({ secrets: first }).catch((err: unknown) =>
          this.logger.error('health checks failed', { error: redact(String((err as Error)?.message ?? err)) }),
        );
        if (this.intervalMs <= 0) return;
        await this.clock.sleep(this.intervalMs, ac.signal).catch(() => undefined);
      }
    })();
  }

  async stop(): Promise<void> {
    this.warden.events.off('event', this.onEvent);
    this.abort?.abort();
    await this.loop;
    this.loop = null;
    while (this.pending.size) await Promise.allSettled([...this.pending]);
  }

  /**
   * Every check at once: channels, what the mail service's probes found, and (at start) secrets:
   * after that the scheduler's token requests for those connections test them on schedule.
   */
  async checkAll(o: { secrets?: boolean } = {}): Promise<void> {
    await Promise.all([this.checkChannels(), o.secrets === false ? undefined : this.checkSecrets()]);
    await this.syncRoutes();
  }

  /** Current results and warnings. */
  async snapshot(): Promise<HealthSnapshot> {
    const warnings: string[] = [];
    const channelNames = [...this.opts.channels.keys()];
    if (channelNames.length) {
      const working = channelNames.filter((n) => this.state.get(`channel:${n}`)?.ok !== false);
      if (working.length === 0) warnings.push('No channel can reach the human.');
      else if (working.length === 1 && channelNames.length > 1)
        warnings.push(`Only one channel still reaches the human (${working[0] ?? ''}).`);
    }
    if (this.opts.mail)
      for (const box of await this.opts.mail.status())
        for (const direction of ['send', 'read'] as const) {
          const routes = box.routes.filter((r) => r.direction === direction);
          if (!routes.length) continue;
          const working = routes.filter(
            (r) =>
              r.ok !== false &&
              r.circuit.state !== 'open' &&
              this.state.get(`route:${box.name}:${direction}:${r.route}`)?.ok !== false,
          );
          if (working.length === 0) warnings.push(`Mailbox ${box.name}: no ${direction} route works.`);
          else if (working.length === 1 && routes.length > 1)
            warnings.push(`Mailbox ${box.name}: only one ${direction} route still works (${working[0]?.route ?? ''}).`);
        }
    return { checks: [...this.state.values()], warnings };
  }

  // ------------------------------------------------------------------ channels

  private async checkChannels(): Promise<void> {
    for (const ch of this.opts.channels.values()) {
      if (!ch.check) continue;
      try {
        await ch.check();
        await this.record(`channel:${ch.name}`, { ok: true }, ch.name);
      } catch (err) {
        const message = redact((err as Error).message);
        await this.record(
          `channel:${ch.name}`,
          { ok: false, detail: message, fix: channelFix(ch, this.warden, message) },
          ch.name,
          { title: `Channel ${ch.name} cannot reach you`, connection: ch.name },
        );
      }
    }
  }

  // ------------------------------------------------------------------ secrets

  private async checkSecrets(): Promise<void> {
    const names = [...this.warden.connections.values()]
      .filter((rt) => rt.config.kind === 'client_credentials' || rt.config.kind === 'service_account')
      .map((rt) => rt.name);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < names.length && !this.abort?.signal.aborted) await this.checkSecret(names[next++] as string);
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, names.length) }, worker));
  }

  private secretKinds(name: string): boolean {
    const kind = this.warden.connections.get(name)?.config.kind;
    return kind === 'client_credentials' || kind === 'service_account';
  }

  /** The scheduler's token requests keep the secret checks current between starts. */
  private secretEvent(name: string, e: WardenEvent): void {
    const subject = `secret:${name}`;
    if (e.type === 'reauth_required') {
      const [summary, fix] = e.message.split(' Fix: ');
      this.state.set(subject, { subject, ok: false, detail: summary ?? e.message, fix: fix ?? null, checkedAt: e.at });
    } else if (e.type === 'refreshed' || e.type === 'recovered')
      this.state.set(subject, { subject, ok: true, detail: null, fix: null, checkedAt: e.at });
  }

  private async checkSecret(name: string): Promise<void> {
    const { store, keeper } = this.warden;
    const row = await store.getConnection(name);
    // Dead since an earlier run: the config may carry a new secret now; try it again.
    if (row && grantDied(row.state))
      await store.updateConnection(name, { state: 'unauthorized', cause: null }, { now: this.clock.now() });
    try {
      await keeper.forceRefresh(name);
      this.state.set(`secret:${name}`, {
        subject: `secret:${name}`,
        ok: true,
        detail: null,
        fix: null,
        checkedAt: this.clock.now(),
      });
    } catch (err) {
      // A refusal is diagnosed by the keeper (which secret, where to rotate it) and announced
      // by the orchestrator; a transient failure is retried by the scheduler.
      const cause = (await store.getConnection(name))?.cause;
      this.state.set(`secret:${name}`, {
        subject: `secret:${name}`,
        ok: false,
        detail: cause?.summary ?? redact(err instanceof TokenwardenError ? err.message : String(err)),
        fix: cause?.fix ?? null,
        checkedAt: this.clock.now(),
      });
    }
  }

  // ------------------------------------------------------------------ mail routes

  private async routeFailed(e: WardenEvent): Promise<void> {
    const d = e.data ?? {};
    const mailbox = String(d['mailbox']);
    const direction = String(d['direction']);
    const route = String(d['route']);
    const error = redact(typeof d['error'] === 'string' ? d['error'] : e.message);
    // An OAuth route whose connection awaits a human: the re-authorization request covers it.
    if (e.connection && /connection .*(reauth_required|awaiting_human|unauthorized)/.test(error)) return;
    await this.record(
      `route:${mailbox}:${direction}:${route}`,
      { ok: false, detail: error, fix: routeFix(this.warden, mailbox, direction, route, String(d['kind'] ?? '')) },
      null,
      { title: `Mailbox ${mailbox}: ${direction} route ${route} fails`, connection: mailbox },
    );
  }

  /** Routes that failed and now probe fine again are recorded (and announced) as recovered. */
  private async syncRoutes(): Promise<void> {
    if (!this.opts.mail) return;
    for (const box of await this.opts.mail.status())
      for (const r of box.routes) {
        const subject = `route:${box.name}:${r.direction}:${r.route}`;
        if (r.ok === true && this.state.get(subject)?.ok === false)
          await this.record(subject, { ok: true }, null, {
            title: `Mailbox ${box.name}: ${r.direction} route ${r.route} works again`,
            connection: box.name,
          });
      }
  }

  // ------------------------------------------------------------------ plumbing

  /**
   * Record a result; on a change (first failure of a streak, or recovery) tell the human
   * through every channel that works, except `exclude` (the one that failed).
   */
  private async record(
    subject: string,
    r: { ok: boolean; detail?: string; fix?: string },
    exclude: string | null,
    notice?: { title: string; connection: string },
  ): Promise<void> {
    const before = this.state.get(subject);
    this.state.set(subject, {
      subject,
      ok: r.ok,
      detail: r.detail ?? null,
      fix: r.fix ?? null,
      checkedAt: this.clock.now(),
    });
    const changed = r.ok ? before?.ok === false : before?.ok !== false;
    if (!changed || !notice) return;
    await this.warden.sink
      .emit({
        type: r.ok ? 'recovered' : 'probe_failed',
        connection: null,
        message: r.ok ? notice.title : `${notice.title}: ${r.detail ?? ''} Fix: ${r.fix ?? ''}`,
        data: { subject, ok: r.ok },
      })
      .catch(() => undefined);
    const msg: ChannelMessage = {
      kind: r.ok ? 'info' : 'probe_failed',
      connection: notice.connection,
      title: notice.title,
      text: r.ok ? 'It passed its check again.' : `${r.detail ?? ''} Fix: ${r.fix ?? ''}`,
    };
    let reached = 0;
    for (const ch of this.opts.channels.values()) {
      if (ch.name === exclude || this.state.get(`channel:${ch.name}`)?.ok === false) continue;
      try {
        await ch.send(msg);
        reached++;
      } catch (err) {
        this.logger.warn('health: could not send a notice', {
          channel: ch.name,
          error: redact((err as Error).message),
        });
      }
    }
    if (!reached && !r.ok)
      this.logger.error(`health: ${notice.title}; no channel could tell the human`, { subject, fix: r.fix ?? null });
  }

  private track(p: Promise<unknown>): void {
    const t = p.catch((err: unknown) =>
      this.logger.error('health: step failed', { error: redact(String((err as Error)?.message ?? err)) }),
    );
    this.pending.add(t);
    void t.finally(() => this.pending.delete(t));
  }
}

export function createHealthWatch(warden: HealthWatchDeps, opts: HealthWatchOptions): HealthWatch {
  return new HealthWatch(warden, opts);
}

function channelFix(ch: Channel, warden: Pick<HealthWatchDeps, 'config'>, message: string): string {
  const key = `channels.${ch.name}`;
  if (ch.type === 'telegram') {
    if (/getMe failed: 401/.test(message))
      return `The bot token was revoked or mistyped: get the current one from @BotFather (/token) and put it in ${key}.bot_token, then restart tokenwarden serve.`;
    if (/getChat failed: (400|403)/.test(message)) {
      const cfg = warden.config.channels[ch.name];
      const chat = cfg && 'chat_id' in cfg ? String(cfg.chat_id) : '?';
      return `The bot cannot reach chat ${chat}: open the chat with the bot and send /start (or add the bot to the group), and check ${key}.chat_id.`;
    }
    return `Telegram's Bot API is not reachable from this host: check the network (and ${key}.api_root if set).`;
  }
  if (/401|403/.test(message)) return `The server refused the credentials: check the token in ${key}.`;
  return `The receiving server did not answer: check ${key}.url and that this host can reach it.`;
}

function routeFix(
  warden: Pick<HealthWatchDeps, 'config'>,
  mailbox: string,
  direction: string,
  route: string,
  kind: string,
): string {
  const mb = warden.config.mailboxes[mailbox];
  const routes = (direction === 'send' ? mb?.send : mb?.read) ?? [];
  const [type, host] = route.split(':');
  const index = routes.findIndex((r) => type !== undefined && type in r && JSON.stringify(r).includes(`"${host}"`));
  const at = `mailboxes.${mailbox}.${direction}[${index < 0 ? '?' : index}]`;
  if (type !== 'smtp' && type !== 'imap')
    return `Check the connection behind ${at} (\`tokenwarden check\`) and the provider's status.`;
  if (kind === 'auth')
    return `The server refused the login. App Passwords stop working when the account's password changes or 2-Step Verification is turned off: create a new one (Google: https://myaccount.google.com/apppasswords), put it in ${at}.${type}.password (or the \${VAR} it names), then restart tokenwarden serve.`;
  if (kind === 'transient')
    return `The server did not answer: check ${at}.${type}.host and port, and that this host can reach it.`;
  return `Check ${at}.${type} (host, port, TLS, user).`;
}
