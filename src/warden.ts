/**
 * The composition root: builds the object graph from a config and hands every component its
 * dependencies (store, clock, fetch, logger). The library's `openWarden()` and every interface
 * (CLI, daemon, MCP) go through here.
 */
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { fileModeWarnings } from './config/file-modes.js';
import { loadConfigFile, parseConfig, findConfigPath } from './config/load.js';
import type { Config, ConnectionConfig } from './config/schema.js';
import { systemClock, type Clock } from './core/clock.js';
import { ReauthRequiredError, TimeoutError, TokenwardenError, type DiagnosedCause } from './core/errors.js';
import { silentLogger, type Logger } from './core/logger.js';
import { createProxiedFetch, readProxyEnv } from './core/proxy.js';
import type { ConnectionState, EventSink, NewEvent, WardenEvent } from './core/types.js';
import { Keeper, type AccessTokenInfo } from './keeper/keeper.js';
import { learnedView, type LearnedView } from './keeper/learned.js';
import type { ConnectionRuntime } from './keeper/runtime.js';
import { createHttpFetch } from './oauth/http-client.js';
import { resolveProfile } from './providers/index.js';
import { FlowService } from './reauth/flows.js';
import { renewalPlanFor } from './reauth/renewal.js';
import { loadKey } from './store/key.js';
import { openStore } from './store/open-store.js';
import type { FlowRecord, Store } from './store/types.js';
import type { ListResult, MailMessage, MailService, SendResult } from './mail/index.js';
import type { ListQuery } from './mail/routes/types.js';

export interface OpenWardenOptions {
  /** Path to tokenwarden.yaml (default: TOKENWARDEN_CONFIG or ./tokenwarden.yaml). */
  configPath?: string;
  /** An already-parsed config object (validated like the file). */
  config?: unknown;
  /** Folder relative paths resolve against (default: the config file's folder, or cwd). */
  baseDir?: string;
  env?: NodeJS.ProcessEnv;
  clock?: Clock;
  logger?: Logger;
  /** `fetch` for API calls, mail and channels (default: the global fetch); also used for provider requests when given. */
  fetch?: typeof fetch;
  /** `fetch` for provider requests only (token, device, revocation; default: `fetch` if given, else tokenwarden's node:http client). */
  providerFetch?: typeof fetch;
  /** Lease owner id of this process (default host:pid:random). */
  owner?: string;
  /**
   * Told about files holding secrets that group or others can read (key, API key, config with
   * literal secrets, store). Default: `logger.warn`. The CLI writes them to stderr.
   */
  onWarning?: (message: string) => void;
  /** Refresh lease length (ms). */
  leaseMs?: number;
}

export interface ConnectionStatus {
  name: string;
  provider: string;
  kind: string;
  state: ConnectionState;
  account: string | null;
  scopes: string[];
  accessExpiresAt: number | null;
  refreshExpiresAt: number | null;
  /** When a renewal flow opens ahead of the predicted death (reauth_lead, out of quiet hours). */
  plannedRenewalAt: number | null;
  /** A lifetime learned from how earlier grants died, when one applies (it moves plannedRenewalAt earlier). */
  learned?: LearnedView | null;
  grantedAt: number | null;
  lastRefreshAt: number | null;
  cause: DiagnosedCause | null;
  lastError: string | null;
  openFlow: {
    id: string;
    kind: string;
    url: string;
    userCode: string | null;
    expiresAt: number;
    askedVia: string[];
    createdAt: number;
  } | null;
}

export class Warden {
  readonly events = new EventEmitter();
  readonly keeper: Keeper;
  readonly flows: FlowService;
  readonly connections: ReadonlyMap<string, ConnectionRuntime>;
  private readonly eventSink: EventSink;
  private closed = false;
  private mailService: Promise<MailService> | undefined;
  private readonly closers: Array<() => Promise<void>> = [];

  constructor(
    readonly config: Config,
    readonly store: Store,
    readonly deps: {
      clock: Clock;
      logger: Logger;
      fetch: typeof fetch;
      /** Provider requests; undefined: the grant client's own node:http client. */
      providerFetch?: typeof fetch | undefined;
      owner: string;
      baseDir: string;
      leaseMs?: number | undefined;
    },
  ) {
    this.events.setMaxListeners(100);
    const sink: EventSink = {
      emit: async (e: NewEvent) => {
        const rec = await store.appendEvent(e, deps.clock.now());
        deps.logger.info(rec.message, { event: rec.type, connection: rec.connection });
        this.events.emit('event', rec);
      },
    };
    this.eventSink = sink;
    const runtimes = new Map<string, ConnectionRuntime>();
    // Connections with the same settings (one OAuth app, many accounts) share one parsed config,
    // one profile and one grant client (and the function that builds it): all are stateless per
    // call. Per connection they cost ~5 KB (profile and client) and ~0.6 KB (config, a closure
    // and its context) — 0.5 GB and 60 MB at 100,000 connections (bench/scale.ts, heap snapshots).
    const shared = new Map<
      string,
      { config: ConnectionConfig; profile: ConnectionRuntime['profile']; client: ConnectionRuntime['client'] }
    >();
    // parseConfig already shares one object between identical connections: look that up first.
    const byObject = new Map<ConnectionConfig, string>();
    for (const [name, conn] of Object.entries(config.connections)) {
      let fingerprint = byObject.get(conn);
      if (fingerprint === undefined) {
        fingerprint = JSON.stringify(conn);
        byObject.set(conn, fingerprint);
      }
      let s = shared.get(fingerprint);
      if (!s) {
        const profile = resolveProfile(conn);
        let client: ReturnType<ConnectionRuntime['client']> | undefined;
        s = {
          config: conn,
          profile,
          // Loaded lazily: the OAuth stack is only needed when a refresh or flow happens.
          client: () =>
            (client ??= import('./oauth/index.js').then((m) =>
              m.createGrantClient(conn, profile, {
                fetch: deps.providerFetch,
                clock: deps.clock,
                baseDir: deps.baseDir,
              }),
            )),
        };
        shared.set(fingerprint, s);
      } else config.connections[name] = s.config;
      runtimes.set(name, { name, index: runtimes.size, config: s.config, profile: s.profile, client: s.client });
    }
    this.connections = runtimes;
    this.keeper = new Keeper({
      store,
      clock: deps.clock,
      logger: deps.logger,
      events: sink,
      owner: deps.owner,
      connections: runtimes,
      fallbacksFor: (name) => this.fallbacksFor(name),
      onReauthRequired: (name, cause) => this.events.emit('reauth_required', name, cause),
      ...(deps.leaseMs !== undefined ? { leaseMs: deps.leaseMs } : {}),
    });
    this.flows = new FlowService({
      store,
      clock: deps.clock,
      logger: deps.logger,
      events: sink,
      keeper: this.keeper,
      connections: runtimes,
      owner: deps.owner,
      fetch: deps.fetch,
      defaultRedirectUri: config.server.public_url
        ? new URL('/oauth/callback', config.server.public_url).toString()
        : undefined,
    });
    this.events.on('event', (e: WardenEvent) => {
      if (e.type === 'reauth_completed' && e.connection) this.keeper.invalidate(e.connection);
    });
  }

  /** The event sink components report to (recorded in the store, then emitted as `event`). */
  get sink(): EventSink {
    return this.eventSink;
  }

  /** A valid access token for `conn`, refreshed ahead of expiry. Throws ReauthRequiredError or TransientError. */
  accessToken(conn: string): Promise<string> {
    return this.connections.has(conn) ? this.keeper.accessToken(conn) : Promise.reject(this.unknown(conn));
  }

  tokenInfo(conn: string): Promise<AccessTokenInfo> {
    return this.keeper.tokenInfo(this.known(conn));
  }

  /** Resolves with a token the moment the connection is healthy; rejects with TimeoutError after `timeoutMs`. */
  async waitUntilReady(conn: string, opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<string> {
    this.known(conn);
    const deadline = this.deps.clock.now() + (opts.timeoutMs ?? 10 * 60_000);
    for (;;) {
      try {
        return await this.keeper.accessToken(conn);
      } catch (err) {
        if (!(err instanceof ReauthRequiredError)) throw err;
        const left = deadline - this.deps.clock.now();
        if (left <= 0)
          throw new TimeoutError(
            `Connection "${conn}" is still waiting for re-authorization after ${opts.timeoutMs ?? 600_000} ms`,
          );
        await this.waitForChange(conn, Math.min(left, 1_000), opts.signal);
      }
    }
  }

  /** Wait until an event about `conn` is recorded in this process, or `ms` passes (cross-process changes are seen on the next poll). */
  private waitForChange(conn: string, ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const ac = new AbortController();
      const done = (): void => {
        this.events.off('event', onEvent);
        ac.abort();
        resolve();
      };
      const onEvent = (e: WardenEvent): void => {
        if (e.connection === conn) done();
      };
      this.events.on('event', onEvent);
      signal?.addEventListener('abort', done, { once: true });
      this.deps.clock.sleep(ms, ac.signal).then(done, () => undefined);
    });
  }

  /** `fetch` with the connection's bearer token; on 401 refreshes once and retries. */
  async fetch(conn: string, url: string | URL, init: RequestInit = {}): Promise<Response> {
    const send = async (info: AccessTokenInfo): Promise<Response> => {
      const headers = new Headers(init.headers);
      headers.set('authorization', `${info.tokenType === 'bearer' ? 'Bearer' : info.tokenType} ${info.accessToken}`);
      return this.deps.fetch(url, { ...init, headers });
    };
    const res = await send(await this.tokenInfo(conn));
    if (res.status !== 401) return res;
    await res.body?.cancel();
    return send(await this.keeper.forceRefresh(conn));
  }

  async status(): Promise<ConnectionStatus[]> {
    // No secret is needed here: at 100,000 connections the secret-free listing saves opening
    // 200,000 sealed values (hundreds of MB of short-lived allocation).
    const list = this.store.listConnectionFacts
      ? await this.store.listConnectionFacts()
      : await this.store.listConnections();
    const rows = new Map(list.map((r) => [r.name, r]));
    const flows = await this.store.listOpenFlows();
    return [...this.connections.values()].map((rt) => {
      const r = rows.get(rt.name);
      const f = flows.find((x) => x.connection === rt.name);
      const state: ConnectionState =
        rt.config.kind === 'static'
          ? 'healthy'
          : (r?.state ?? (rt.config.kind === 'oauth' ? 'unauthorized' : 'healthy'));
      return {
        name: rt.name,
        provider: rt.profile.id,
        kind: rt.config.kind,
        state,
        account: r?.account ?? rt.config.account ?? null,
        scopes: r?.scope ? r.scope.split(' ') : rt.config.scopes,
        accessExpiresAt: r?.accessExpiresAt ?? null,
        refreshExpiresAt: r?.refreshExpiresAt ?? null,
        plannedRenewalAt: renewalPlanFor(rt.config, r ?? null),
        learned: learnedView(rt.config, r?.lifetime ?? null),
        grantedAt: r?.grantedAt ?? null,
        lastRefreshAt: r?.lastRefreshAt ?? null,
        cause: r?.cause ?? null,
        lastError: r?.lastError ?? null,
        openFlow: f ? flowSummary(f) : null,
      };
    });
  }

  /** Which non-interactive routes still work if `conn` dies (for error messages and agents). */
  fallbacksFor(conn: string): string[] {
    const out: string[] = [];
    for (const [name, mb] of Object.entries(this.config.mailboxes)) {
      const uses = [...mb.send, ...mb.read].some((r) => JSON.stringify(r).includes(`"${conn}"`));
      if (!uses) continue;
      for (const r of mb.send)
        if ('smtp' in r && r.smtp.password) out.push(`mailbox ${name}: send via smtp ${r.smtp.host} (app password)`);
      for (const r of mb.read)
        if ('imap' in r && r.imap.password) out.push(`mailbox ${name}: read via imap ${r.imap.host} (app password)`);
    }
    return out;
  }

  /**
   * The mail service (outbox, route failover, read fallback), created on first use. The
   * daemon starts its delivery loop; library callers get immediate delivery attempts on send.
   */
  mail(): Promise<MailService> {
    this.mailService ??= import('./mail/index.js').then((m) => {
      const svc = m.createMailService({
        config: this.config,
        store: this.store,
        tokens: this.keeper,
        clock: this.deps.clock,
        logger: this.deps.logger,
        events: this.eventSink,
        owner: this.deps.owner,
        fetch: this.deps.fetch,
      });
      this.onClose(() => svc.stop());
      return svc;
    });
    return this.mailService;
  }

  /** A configured mailbox: `send` goes through the durable outbox; `list` falls back across read routes. */
  mailbox(name: string): { send(msg: MailMessage): Promise<SendResult>; list(q?: ListQuery): Promise<ListResult> } {
    if (!this.config.mailboxes[name])
      throw new TokenwardenError(
        'TW_NOT_FOUND',
        `No mailbox named "${name}" (configured: ${Object.keys(this.config.mailboxes).join(', ') || 'none'})`,
      );
    return {
      send: async (msg) => (await this.mail()).mailbox(name).send(msg),
      list: async (q) => (await this.mail()).mailbox(name).list(q),
    };
  }

  /** Register cleanup for components started on this warden (daemon, mail service). */
  onClose(fn: () => Promise<void>): void {
    this.closers.push(fn);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.flows.stopWatching();
    this.keeper.close();
    for (const fn of this.closers.reverse())
      await fn().catch((e: unknown) => this.deps.logger.warn('close step failed', { error: String(e) }));
    await this.store.close();
  }

  private known(conn: string): string {
    if (!this.connections.has(conn)) throw this.unknown(conn);
    return conn;
  }

  private unknown(conn: string): TokenwardenError {
    return new TokenwardenError(
      'TW_NOT_FOUND',
      `No connection named "${conn}" (configured: ${[...this.connections.keys()].join(', ') || 'none'})`,
    );
  }
}

function flowSummary(f: FlowRecord): NonNullable<ConnectionStatus['openFlow']> {
  return {
    id: f.id,
    kind: f.kind,
    url: f.url,
    userCode: f.userCode,
    expiresAt: f.expiresAt,
    askedVia: f.askedVia,
    createdAt: f.createdAt,
  };
}

/** Open a warden from a config file or object. Remember to `close()` it. */
export async function openWarden(opts: OpenWardenOptions = {}): Promise<Warden> {
  const env = opts.env ?? process.env;
  let config: Config;
  let baseDir: string;
  let file: { path: string | null; literalSecrets: string[] } = { path: null, literalSecrets: [] };
  if (opts.config !== undefined) {
    config = parseConfig(opts.config, env);
    baseDir = opts.baseDir ?? process.cwd();
  } else {
    const path = findConfigPath({ flag: opts.configPath, env, cwd: process.cwd() });
    const loaded = loadConfigFile(path, env);
    config = loaded.config;
    baseDir = opts.baseDir ?? loaded.baseDir;
    file = { path, literalSecrets: loaded.literalSecrets ?? [] };
  }
  // HTTPS_PROXY / HTTP_PROXY / NO_PROXY: a bad value is a config error now, not on the first request.
  const proxies = readProxyEnv(env);
  const logger = opts.logger ?? silentLogger;
  const onWarning = opts.onWarning ?? ((m: string) => logger.warn(m));
  const key = loadKey(config.key, { baseDir, env, onWarning });
  const store = await openStore(config.store, { key, keySpec: config.key, baseDir });
  for (const w of fileModeWarnings({ config, baseDir, configPath: file.path, literalSecrets: file.literalSecrets }))
    onWarning(w);
  return new Warden(config, store, {
    clock: opts.clock ?? systemClock,
    logger,
    fetch: opts.fetch ?? createProxiedFetch(proxies, globalThis.fetch.bind(globalThis)),
    // Provider requests use the shared node:http client, which reads process.env's proxy variables.
    providerFetch:
      opts.providerFetch ?? opts.fetch ?? (proxies && env !== process.env ? createHttpFetch({ env }) : undefined),
    owner: opts.owner ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`,
    baseDir,
    leaseMs: opts.leaseMs,
  });
}
