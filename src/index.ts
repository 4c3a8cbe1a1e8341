/**
 * tokenwarden — the library entry point: keep a headless program's OAuth credentials alive,
 * and get a human to re-authorize in seconds when nothing else can.
 *
 * @example A minimal agent step
 * ```ts
 * import { openWarden, ReauthRequiredError } from 'tokenwarden';
 *
 * const warden = await openWarden({ configPath: 'tokenwarden.yaml' });
 * try {
 *   const res = await warden.fetch('gmail', 'https://gmail.googleapis.com/gmail/v1/users/me/profile');
 *   console.log(await res.json());
 *   const sent = await warden.mailbox('agent').send({ to: 'ops@example.com', subject: 'daily report', text: 'all good' });
 *   console.log(`sent via ${sent.route}`); // e.g. "gmail:gmail", or "smtp:smtp.gmail.com" while Gmail awaits its human
 * } catch (err) {
 *   if (err instanceof ReauthRequiredError) console.log(err.message); // cause, who was asked, what still works
 *   else throw err;
 * } finally {
 *   await warden.close();
 * }
 * ```
 *
 * @see README.md and docs/ for configuration, providers, channels, the HTTP API and operations.
 * @packageDocumentation
 */
import { openWarden as openWardenImpl, type OpenWardenOptions, type Warden } from './warden.js';

/**
 * Open a warden from `tokenwarden.yaml` (or a config object): the store, the refresh engine,
 * the re-authorization flows and the mailboxes, ready to use. Remember to `close()` it.
 *
 * The config path defaults to `$TOKENWARDEN_CONFIG`, else `./tokenwarden.yaml`. Relative paths
 * in the config (SQLite file, key file) resolve against the config file's folder.
 *
 * @example From a file
 * ```ts
 * const warden = await openWarden({ configPath: '/etc/agent/tokenwarden.yaml' });
 * const token = await warden.accessToken('gmail'); // refreshed ahead of expiry, rotation-safe
 * ```
 *
 * @example From an object (tests, embedding), with a fake clock
 * ```ts
 * const warden = await openWarden({
 *   config: { store: 'sqlite:state.db', key: 'env:TOKENWARDEN_KEY', connections: { api: { provider: 'oauth2', kind: 'client_credentials', client_id: 'x', client_secret: 'y', token_url: 'https://auth.example.com/token', auth_url: 'https://auth.example.com/authorize' } } },
 *   baseDir: '/var/lib/agent',
 *   env: { TOKENWARDEN_KEY: process.env.TOKENWARDEN_KEY },
 *   clock: new FakeClock(Date.now()),
 * });
 * ```
 *
 * @throws {ConfigError} a config key is missing or wrong (the message names the key path).
 * @throws {KeyError} the encryption key is missing, malformed or does not open the store.
 */
export const openWarden: (opts?: OpenWardenOptions) => Promise<Warden> = openWardenImpl;

/**
 * The warden and its option and status types.
 *
 * - `warden.accessToken(conn)` — a valid access token (throws {@link ReauthRequiredError} or {@link TransientError}).
 * - `warden.waitUntilReady(conn, { timeoutMs })` — resolves with a token the moment a human has re-authorized.
 * - `warden.fetch(conn, url, init)` — `fetch` with the bearer token; on 401 refreshes once and retries.
 * - `warden.status()` — {@link ConnectionStatus} of every connection (state, expiries, cause, open flow).
 * - `warden.mailbox(name).send(msg)` / `.list(query)` — mail with route failover and a durable outbox.
 * - `warden.events.on('event', (e: WardenEvent) => …)` — everything that happens, as typed events.
 *
 * @example Wait for a human instead of failing
 * ```ts
 * try {
 *   await warden.accessToken('gmail');
 * } catch (err) {
 *   if (!(err instanceof ReauthRequiredError)) throw err;
 *   console.log(`waiting: ${err.diagnosis.summary} (asked via ${err.reauth.askedVia?.join(', ')})`);
 *   await warden.waitUntilReady('gmail', { timeoutMs: 15 * 60_000 });
 * }
 * ```
 *
 * @example Typed events
 * ```ts
 * warden.events.on('event', (e: WardenEvent) => {
 *   if (e.type === 'reauth_required') alertOps(`${e.connection}: ${e.message}`);
 * });
 * ```
 */
export { Warden } from './warden.js';
export type { OpenWardenOptions, ConnectionStatus } from './warden.js';

/**
 * What `warden.tokenInfo(conn)` returns: the token, its type, expiry and the connection state.
 *
 * @example
 * ```ts
 * const { accessToken, expiresAt } = await warden.tokenInfo('gmail');
 * ```
 */
export type { AccessTokenInfo } from './keeper/keeper.js';

/**
 * Errors by how the caller must react, each with a stable `code` (`TW_*`) and an ES2022 `cause`:
 * {@link ReauthRequiredError} (`TW_REAUTH_REQUIRED`: a human must act; carries the diagnosed
 * cause, where and when the human was asked, and the fallbacks that still work),
 * {@link TransientError} (`TW_PROVIDER_UNAVAILABLE`: retry later, honour `retryAfterMs`),
 * `ProviderError`, `ConfigError`, `KeyError`, `StoreError`, `InputError`, `NotFoundError`,
 * `ConflictError`, `TimeoutError`, `UsageError`.
 *
 * @example
 * ```ts
 * try {
 *   await warden.accessToken('gmail');
 * } catch (err) {
 *   if (err instanceof ReauthRequiredError) return { waiting: true, why: err.diagnosis.summary, fallbacks: err.fallbacks };
 *   if (err instanceof TransientError) return { retryInMs: err.retryAfterMs ?? 5_000 };
 *   throw err;
 * }
 * ```
 */
export * from './core/errors.js';

/**
 * Domain types: `ConnectionState` (`unauthorized`, `healthy`, `refreshing`, `degraded`,
 * `expiring`, `reauth_required`, `awaiting_human`), `WardenEvent` and `EventType`, `TokenSet`;
 * `needsHuman(state)` (no token until a human acts) and `grantDied(state)` (a grant that existed
 * died), the one definition of those sets every face uses.
 *
 * @example
 * ```ts
 * const waiting = (await warden.status()).filter((s) => needsHuman(s.state));
 * ```
 */
export type * from './core/types.js';
export { needsHuman, grantDied } from './core/types.js';

/**
 * Time as a dependency: pass a `FakeClock` to `openWarden({ clock })` to drive expiries,
 * leases and reminders in tests without waiting.
 *
 * @example
 * ```ts
 * const clock = new FakeClock(Date.parse('2025-01-01T00:00:00Z'));
 * const warden = await openWarden({ configPath, clock });
 * await clock.advance(55 * 60_000); // the next accessToken() refreshes ahead of expiry
 * ```
 */
export type { Clock } from './core/clock.js';
export { systemClock, FakeClock } from './core/clock.js';

/**
 * The validated shape of `tokenwarden.yaml` (see docs/configuration.md).
 *
 * @example
 * ```ts
 * const gmail: ConnectionConfig | undefined = warden.config.connections['gmail'];
 * ```
 */
export type { Config, ConnectionConfig, ChannelConfig, MailboxConfig } from './config/schema.js';

/**
 * Mail types: the message you send, what `send` answers (`status` `sent` | `queued` | `failed`,
 * the `route` that carried it, a stable `messageId`), and what `list` returns.
 *
 * @example
 * ```ts
 * const r: SendResult = await warden.mailbox('agent').send({ to: 'a@example.com', subject: 'hi', text: 'hello', idempotencyKey: 'report-2025-01-01' });
 * if (r.status === 'queued') console.log('in the durable outbox; the daemon retries it');
 * const { route, messages }: ListResult = await warden.mailbox('agent').list({ since: new Date(Date.now() - 86_400_000) });
 * ```
 */
export type {
  MailMessage,
  MailAttachment,
  SendResult,
  ListResult,
  ListQuery,
  NormalisedMessage,
} from './mail/index.js';

/**
 * The storage contract (SQLite embedded, PostgreSQL for several hosts): records for
 * connections, flows, events and the outbox. Secrets inside are sealed at rest.
 *
 * @example
 * ```ts
 * const recent: WardenEvent[] = await warden.listEvents({ connection: 'gmail', newestFirst: true, limit: 10 });
 * ```
 */
export type * from './store/types.js';

/**
 * Run the daemon inside your own process (what `tokenwarden serve` runs): refresh ahead of
 * expiry, listen on chat channels, serve the callback, HTTP API and dashboard.
 *
 * @example
 * ```ts
 * const daemon = await startDaemon({ configPath: 'tokenwarden.yaml', listen: '127.0.0.1:7465' });
 * console.log(`callback at ${daemon.baseUrl}/oauth/callback`);
 * process.on('SIGTERM', () => void daemon.close());
 * ```
 */
export { startDaemon } from './daemon.js';
export type { Daemon, DaemonOptions } from './daemon.js';

/**
 * The MCP server over an open warden (what `tokenwarden mcp` runs on stdio): tools
 * `credential_status`, `request_reauthorization`, `send_email`, `read_email`. Never returns tokens.
 *
 * @example Embed it on another transport
 * ```ts
 * import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
 * const server = createMcpServer(await openWarden());
 * await server.connect(new StdioServerTransport());
 * ```
 */
export { createMcpServer } from './mcp/server.js';
export type { McpServerOptions } from './mcp/server.js';
