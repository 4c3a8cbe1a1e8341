/**
 * The composition root: builds the object graph from a config and hands every engine the
 * dependencies it uses (store, clock, fetch, logger, event sink). The library's `openWarden()`
 * and every face (CLI, daemon, MCP) start here; the daemon's long-running parts are added by
 * src/daemon.ts (docs/architecture.md, "The object graph").
 */
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { connectionStatuses, type ConnectionStatus } from './actions/status-view.js';
import { accessToken, fetchWithToken, tokenInfo, waitUntilReady } from './actions/get-token.js';
import { checkMailbox, sendMail } from './actions/send-mail.js';
import { readMail } from './actions/read-mail.js';
import { fileModeWarnings } from './config/file-modes.js';
import { loadConfigFile, parseConfig, findConfigPath } from './config/load.js';
import type { Config, ConnectionConfig, MailboxConfig } from './config/schema.js';
import { systemClock, type Clock } from './core/clock.js';
import { silentLogger, type Logger } from './core/logger.js';
import { createProxiedFetch, readProxyEnv } from './core/proxy.js';
import type { EventSink, NewEvent, WardenEvent } from './core/types.js';
import { Keeper, type AccessTokenInfo } from './keeper/keeper.js';
import type { ConnectionRuntime } from './keeper/runtime.js';
import { createHttpFetch } from './oauth/http-client.js';
import { resolveProfile } from './providers/index.js';
import { FlowService } from './reauth/flows.js';
import { loadKey } from './store/key.js';
import { openStore } from './store/open-store.js';
import type { Store } from './store/types.js';
import type { ListResult, MailMessage, MailService, SendResult } from './mail/index.js';
import type { ListQuery } from './mail/routes/types.js';

export type { ConnectionStatus } from './actions/status-view.js';

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

/** What the root built from the config: every engine takes the slice it needs (docs/architecture.md, "The object graph"). */
export interface WardenParts {
  readonly config: Config;
  readonly store: Store;
  readonly keeper: Keeper;
  readonly flows: FlowService;
  /** The event sink components report to (recorded in the store, then emitted as `event`). */
  readonly sink: EventSink;
  /** `event` for every recorded event, `reauth_required` from the keeper. */
  readonly events: EventEmitter;
  readonly connections: ReadonlyMap<string, ConnectionRuntime>;
  readonly deps: WardenDeps;
  accessToken(conn: string): Promise<string>;
  tokenInfo(conn: string): Promise<AccessTokenInfo>;
  fetch(conn: string, url: string | URL, init?: RequestInit): Promise<Response>;
  status(): Promise<ConnectionStatus[]>;
  fallbacksFor(conn: string): string[];
  mail(): Promise<MailService>;
  onClose(fn: () => Promise<void>): void;
}

export interface WardenDeps {
  clock: Clock;
  logger: Logger;
  fetch: typeof fetch;
  /** Provider requests; undefined: the grant client's own node:http client. */
  providerFetch?: typeof fetch | undefined;
  owner: string;
  baseDir: string;
  leaseMs?: number | undefined;
}

/** The parts of an open warden, for the daemon's root and tests; not part of the library's API. */
export let partsOf: (warden: Warden) => WardenParts;

export class Warden {
  /** `event` for every recorded event (a {@link WardenEvent}); `reauth_required` when a grant dies. */
  readonly events = new EventEmitter();
  readonly #parts: WardenParts;
  #closed = false;
  #mailService: Promise<MailService> | undefined;
  readonly #closers: Array<() => Promise<void>> = [];

  static {
    partsOf = (w) => w.#parts;
  }

  constructor(
    readonly config: Config,
    store: Store,
    deps: WardenDeps,
  ) {
    this.events.setMaxListeners(100);
    const events = this.events;
    const sink: EventSink = {
      emit: async (e: NewEvent) => {
        const rec = await store.appendEvent(e, deps.clock.now());
        deps.logger.info(rec.message, { event: rec.type, connection: rec.connection });
        events.emit('event', rec);
      },
    };
    const connections = buildRuntimes(config, deps);
    const keeper = new Keeper({
      store,
      clock: deps.clock,
      logger: deps.logger,
      events: sink,
      owner: deps.owner,
      connections,
      fallbacksFor: (name) => fallbacksFor(config, name),
      onReauthRequired: (name, cause) => events.emit('reauth_required', name, cause),
      ...(deps.leaseMs !== undefined ? { leaseMs: deps.leaseMs } : {}),
    });
    const flows = new FlowService({
      store,
      clock: deps.clock,
      logger: deps.logger,
      events: sink,
      keeper,
      connections,
      owner: deps.owner,
      fetch: deps.fetch,
      defaultRedirectUri: config.server.public_url
        ? new URL('/oauth/callback', config.server.public_url).toString()
        : undefined,
    });
    const tokens = { keeper, connections, clock: deps.clock, fetch: deps.fetch, events };
    this.#parts = {
      config,
      store,
      keeper,
      flows,
      sink,
      events,
      connections,
      deps,
      accessToken: (conn) => accessToken(tokens, conn),
      tokenInfo: (conn) => tokenInfo(tokens, conn),
      fetch: (conn, url, init) => fetchWithToken(tokens, conn, url, init),
      status: () => connectionStatuses({ store, connections }),
      fallbacksFor: (conn) => fallbacksFor(config, conn),
      mail: () => this.mail(),
      onClose: (fn) => this.onClose(fn),
    };
    this.events.on('event', (e: WardenEvent) => {
      if (e.type === 'reauth_completed' && e.connection) keeper.invalidate(e.connection);
    });
  }

  /** A valid access token for `conn`, refreshed ahead of expiry. Throws ReauthRequiredError or TransientError. */
  accessToken(conn: string): Promise<string> {
    return this.#parts.accessToken(conn);
  }

  tokenInfo(conn: string): Promise<AccessTokenInfo> {
    return this.#parts.tokenInfo(conn);
  }

  /** Resolves with a token the moment the connection is healthy; rejects with TimeoutError after `timeoutMs`. */
  waitUntilReady(conn: string, opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<string> {
    const p = this.#parts;
    return waitUntilReady(
      { keeper: p.keeper, connections: p.connections, clock: p.deps.clock, fetch: p.deps.fetch, events: p.events },
      conn,
      opts,
    );
  }

  /** `fetch` with the connection's bearer token; on 401 refreshes once and retries. */
  fetch(conn: string, url: string | URL, init: RequestInit = {}): Promise<Response> {
    return this.#parts.fetch(conn, url, init);
  }

  /** Every connection's status (state, expiries, renewal plan, cause, open flow); never a secret. */
  status(): Promise<ConnectionStatus[]> {
    return this.#parts.status();
  }

  /** Which non-interactive routes still work if `conn` dies (for error messages and agents). */
  fallbacksFor(conn: string): string[] {
    return fallbacksFor(this.config, conn);
  }

  /** Recorded events, newest first when asked (what happened to a connection, and when). */
  listEvents(q: Parameters<Store['listEvents']>[0] = {}): Promise<WardenEvent[]> {
    return this.#parts.store.listEvents(q);
  }

  /**
   * The mail service (outbox, route failover, read fallback), created on first use. The
   * daemon starts its delivery loop; library callers get immediate delivery attempts on send.
   */
  mail(): Promise<MailService> {
    const { config, store, keeper, deps, sink } = this.#parts;
    this.#mailService ??= import('./mail/index.js').then((m) => {
      const svc = m.createMailService({
        config,
        store,
        tokens: keeper,
        clock: deps.clock,
        logger: deps.logger,
        events: sink,
        owner: deps.owner,
        fetch: deps.fetch,
      });
      this.onClose(() => svc.stop());
      return svc;
    });
    return this.#mailService;
  }

  /** A configured mailbox: `send` goes through the durable outbox; `list` falls back across read routes. */
  mailbox(name: string): { send(msg: MailMessage): Promise<SendResult>; list(q?: ListQuery): Promise<ListResult> } {
    const d = { mailboxes: this.config.mailboxes, mail: () => this.mail() };
    checkMailbox(d, name);
    return { send: (msg) => sendMail(d, name, msg), list: (q) => readMail(d, name, q) };
  }

  /** Register cleanup for components started on this warden (daemon, mail service). */
  onClose(fn: () => Promise<void>): void {
    this.#closers.push(fn);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const { flows, keeper, deps, store } = this.#parts;
    flows.stopWatching();
    keeper.close();
    for (const fn of this.#closers.reverse())
      await fn().catch((e: unknown) => deps.logger.warn('close step failed', { error: String(e) }));
    await store.close();
  }
}

/**
 * One runtime per connection. Connections with the same settings (one OAuth app, many accounts)
 * share one parsed config, one profile and one grant client (and the function that builds it):
 * all are stateless per call. Per connection they cost ~5 KB (profile and client) and ~0.6 KB
 * (config, a closure and its context) — 0.5 GB and 60 MB at 100,000 connections (bench/scale.ts,
 * heap snapshots). The config itself is never written to.
 */
function buildRuntimes(config: Config, deps: WardenDeps): Map<string, ConnectionRuntime> {
  const runtimes = new Map<string, ConnectionRuntime>();
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
      s = { config: conn, ...sharedClient(conn, deps) };
      shared.set(fingerprint, s);
    }
    runtimes.set(name, { name, index: runtimes.size, config: s.config, profile: s.profile, client: s.client });
  }
  return runtimes;
}

function sharedClient(
  conn: ConnectionConfig,
  deps: WardenDeps,
): { profile: ConnectionRuntime['profile']; client: ConnectionRuntime['client'] } {
  const profile = resolveProfile(conn);
  let client: ReturnType<ConnectionRuntime['client']> | undefined;
  return {
    profile,
    // Loaded lazily: the OAuth stack is only needed when a refresh or flow happens.
    client: () =>
      (client ??= import('./oauth/index.js').then((m) =>
        m.createGrantClient(conn, profile, { fetch: deps.providerFetch, clock: deps.clock, baseDir: deps.baseDir }),
      )),
  };
}

type RouteConfig = MailboxConfig['send'][number] | MailboxConfig['read'][number];

/** The connection a mail route uses, if any (gmail/graph by name or object, smtp/imap for XOAUTH2). */
function routeConnection(r: RouteConfig): string | undefined {
  if ('gmail' in r) return typeof r.gmail === 'string' ? r.gmail : r.gmail.connection;
  if ('graph' in r) return typeof r.graph === 'string' ? r.graph : r.graph.connection;
  if ('smtp' in r) return r.smtp.connection;
  return r.imap.connection;
}

/** Which non-interactive routes still work if `conn` dies: App Password routes of the mailboxes that use it. */
function fallbacksFor(config: Pick<Config, 'mailboxes'>, conn: string): string[] {
  const out: string[] = [];
  for (const [name, mb] of Object.entries(config.mailboxes)) {
    if (![...mb.send, ...mb.read].some((r) => routeConnection(r) === conn)) continue;
    for (const r of mb.send)
      if ('smtp' in r && r.smtp.password) out.push(`mailbox ${name}: send via smtp ${r.smtp.host} (app password)`);
    for (const r of mb.read)
      if ('imap' in r && r.imap.password) out.push(`mailbox ${name}: read via imap ${r.imap.host} (app password)`);
  }
  return out;
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
