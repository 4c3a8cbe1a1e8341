/**
 * The daemon's composition root (what `tokenwarden serve` runs, and `startDaemon` for embedding):
 * on top of the warden's graph (src/warden.ts) it builds and starts, in this order, so that
 * nothing is sent before its answer can be captured:
 *
 * 1. the warden (store, keeper, flows) and the channels from config;
 * 2. the HTTP server (`/healthz`, `/oauth/callback`, API, dashboard, metrics);
 * 3. the orchestrator: device-flow polling resumed, two-way channels long-polling;
 * 4. the scheduler (refresh ahead of expiry, probes, predicted deaths, reminders).
 *
 * SIGTERM/SIGINT stop it gracefully in the reverse order: no new work, long polls aborted,
 * in-flight exchanges and sends finished, then the store closed. See docs/architecture.md,
 * "The object graph".
 */
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { Channel, LeaderLease } from './channels/types.js';
import type { Clock } from './core/clock.js';
import { TokenwardenError } from './core/errors.js';
import type { MailService } from './mail/index.js';
import { redact, type Logger } from './core/logger.js';
import { createOrchestrator, type ReauthOrchestrator } from './reauth/orchestrator.js';
import { createHealthWatch, type HealthWatch, type HealthWatchOptions } from './daemon/health-watch.js';
import { createScheduler, type Scheduler, type SchedulerOptions } from './reauth/scheduler.js';
import { createApp } from './server/app.js';
import { createLoginLink } from './server/dashboard/sessions.js';
import type { ServerContext } from './server/context.js';
import { listen, parseListen, type ListeningServer } from './server/listen.js';
import { startEventRetention, type EventRetention } from './store/retention.js';
import { openWarden, partsOf, type OpenWardenOptions, type Warden } from './warden.js';
import { startWardenProxies, type RunningProxies } from './proxy/serve.js';
import { holdDaemonLease, telegramLease } from './daemon/lease.js';

export interface DaemonOptions extends OpenWardenOptions {
  /** Use an already-open warden (tests, embedding) instead of opening one. */
  warden?: Warden;
  scheduler?: SchedulerOptions;
  /** Override `server.listen` (tests bind 127.0.0.1:0). */
  listen?: string;
  /** Channel, secret and route checks (interval, concurrency). */
  health?: Pick<HealthWatchOptions, 'intervalMs' | 'concurrency'>;
}

export interface Daemon {
  warden: Warden;
  orchestrator: ReauthOrchestrator;
  scheduler: Scheduler;
  health: HealthWatch;
  channels: Map<string, Channel>;
  server: ListeningServer;
  /** Local SMTP/IMAP proxies for password-only clients (`proxies:`). */
  proxies: RunningProxies;
  /** Where the human's browser reaches the daemon. */
  baseUrl: string;
  /** A fresh single-use dashboard sign-in link (valid a few minutes). */
  loginLink(): URL;
  /** Hourly event pruning (events.retention_days, events.max_rows). */
  retention: EventRetention;
  /** Graceful stop; idempotent. */
  close(): Promise<void>;
}

/** Build and start everything `serve` runs; the caller owns `close()`. */
export async function startDaemon(opts: DaemonOptions = {}): Promise<Daemon> {
  const warden = opts.warden ?? (await openWarden(opts));
  const ownsWarden = !opts.warden;
  const parts = partsOf(warden);
  const clock: Clock = parts.deps.clock;
  const logger: Logger = parts.deps.logger;
  // Mail first: the email channel sends through a mailbox, and the API serves /mailboxes.
  const mail = Object.keys(warden.config.mailboxes).length ? await warden.mail() : undefined;
  const channels = await buildChannels(warden);
  const cfg = opts.listen ? { ...warden.config.server, listen: opts.listen } : warden.config.server;
  let server: ListeningServer | null = null;
  let orchestrator: ReauthOrchestrator | null = null;
  let scheduler: Scheduler | null = null;
  let retention: EventRetention | null = null;
  let health: HealthWatch | null = null;
  let ctx: ServerContext | null = null;
  let proxies: RunningProxies | null = null;
  // Other processes see a daemon holds this store (connect leaves chat listening to it; rotate-key refuses).
  const presence = holdDaemonLease(parts);
  try {
    // The orchestrator exists before the server so the callback route can reach it; it starts later.
    const base = { value: cfg.public_url ?? '' };
    orchestrator = createOrchestrator(parts, { channels, clock, logger, baseUrl: base.value });
    ctx = {
      warden,
      orchestrator,
      apiKey: loadApiKey(warden),
      hosts: [parseListen(cfg.listen).host],
      mail,
      clock,
      logger,
      get baseUrl() {
        return base.value;
      },
      get health() {
        return health ?? undefined;
      },
    };
    server = await listen(createApp(ctx), cfg, { baseDir: parts.deps.baseDir });
    base.value = cfg.public_url ?? server.url;
    await orchestrator.start();
    await orchestrator.listenAll();
    // Channels, secrets and (through the mail service's probes) App Password routes, checked now and on schedule.
    health = createHealthWatch(parts, { channels, mail, ...(opts.health ?? {}) });
    health.start();
    scheduler = createScheduler(parts, orchestrator, opts.scheduler ?? {});
    scheduler.start();
    retention = startEventRetention({ store: parts.store, clock, logger, config: warden.config.events });
    mail?.start();
    proxies = await startWardenProxies(parts, mail);
  } catch (err) {
    await proxies?.close();
    await retention?.stop();
    await mail?.stop();
    await health?.stop();
    await server?.close(0);
    await orchestrator?.stop();
    await presence.stop();
    if (ownsWarden) await warden.close();
    throw err;
  }
  return daemonHandle({
    warden,
    ownsWarden,
    orchestrator,
    scheduler: scheduler as Scheduler,
    retention: retention as EventRetention,
    health: health as HealthWatch,
    context: ctx as ServerContext,
    server,
    proxies: proxies as RunningProxies,
    mail,
    presence,
    channels,
    baseUrl: cfg.public_url ?? server.url,
  });
}

/** What `startDaemon` started, for its handle. */
interface Started extends Omit<Daemon, 'loginLink' | 'close'> {
  ownsWarden: boolean;
  context: ServerContext;
  mail: MailService | undefined;
  presence: { stop(): Promise<void> };
}

/** The running daemon: its parts, a sign-in link maker, and a graceful, idempotent stop in reverse order. */
function daemonHandle(d: Started): Daemon {
  const { ownsWarden, context, mail, presence, ...visible } = d;
  let closing: Promise<void> | null = null;
  return {
    ...visible,
    loginLink: () => createLoginLink(context),
    close: () =>
      (closing ??= (async () => {
        // No new work; in-flight callbacks and scheduled steps finish.
        await Promise.all([
          d.server.close(),
          d.scheduler.stop(),
          d.retention.stop(),
          d.proxies.close(),
          d.health.stop(),
        ]);
        // The outbox loop finishes in-flight deliveries; undelivered rows stay queued in the store.
        await mail?.stop();
        // Long polls aborted, pastes being handled finish, device polling stops, sends drain.
        await d.orchestrator.stop();
        await presence.stop();
        if (ownsWarden) await d.warden.close();
      })()),
  };
}

/** Channels from config; one that cannot be built is reported and left out (the others still work). */
export async function buildChannels(warden: Warden, only?: string[]): Promise<Map<string, Channel>> {
  const { createChannel } = await import('./channels/index.js');
  const parts = partsOf(warden);
  const out = new Map<string, Channel>();
  for (const [name, cfg] of Object.entries(warden.config.channels)) {
    if (only && !only.includes(name)) continue;
    try {
      const leader: LeaderLease | undefined =
        cfg.type === 'telegram'
          ? telegramLease(parts, cfg.bot_token.split(':')[0] ?? name, (cfg.poll_timeout ?? 30_000) + 30_000)
          : undefined;
      out.set(
        name,
        createChannel(name, cfg, {
          clock: parts.deps.clock,
          logger: parts.deps.logger,
          fetch: parts.deps.fetch,
          ...(leader ? { leader } : {}),
          ...(cfg.type === 'email' ? { sendMail: emailSender(warden, cfg.mailbox) } : {}),
          onError: (err) => {
            void parts.sink
              .emit({
                type: 'channel_error',
                connection: null,
                message: redact(`Channel ${name}: ${err.message}`),
                data: { channel: name },
              })
              .catch(() => undefined);
          },
        }),
      );
    } catch (err) {
      parts.deps.logger.error('channel could not be started', {
        channel: name,
        error: redact((err as Error).message),
      });
    }
  }
  return out;
}

/**
 * The email channel's sender: the mailbox's outbox, whose OAuth routes are skipped while their
 * connection awaits a human (open circuit), so the message leaves through the App Password route.
 */
function emailSender(warden: Warden, mailbox: string): (to: string, subject: string, text: string) => Promise<void> {
  return async (to, subject, text) => {
    const r = await warden.mailbox(mailbox).send({ to, subject, text });
    if (r.status === 'failed')
      throw new TokenwardenError('TW_MAIL', `mailbox ${mailbox} could not send: ${r.error ?? 'failed'}`);
  };
}

/** `server.api_key`, else `server.api_key_file`, else `.tokenwarden/api-key` if `init` wrote one; null disables the API. */
export function loadApiKey(warden: Warden): string | null {
  const s = warden.config.server;
  if (s.api_key) return s.api_key;
  const path = s.api_key_file ?? '.tokenwarden/api-key';
  const full = isAbsolute(path) ? path : resolve(partsOf(warden).deps.baseDir, path);
  if (!existsSync(full)) return null;
  const key = readFileSync(full, 'utf8').trim();
  return key === '' ? null : key;
}
