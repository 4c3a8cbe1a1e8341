/**
 * The `tokenwarden.yaml` schema. Every key carries a description; the
 * docs page docs/configuration.md is generated from them. Unknown keys are errors.
 */
import { z } from 'zod';
import { DEFAULT_KEY, DEFAULT_STORE } from './fingerprint.js';
import { parseDuration } from '../core/duration.js';
import { ALLOWED_RECIPIENT_RE, parseSendRate } from './send-rate.js';
import { outboundUrlProblem } from '../core/http-policy.js';
import { checkProviderRules, withProviderDefaults } from './provider-rules.js';

const duration = (what: string) =>
  z
    .union([z.string(), z.number()])
    .refine((v) => parseDuration(v) !== null, { message: `expected a duration like 90s, 10m, 24h or 7d (${what})` })
    .transform((v) => parseDuration(v) as number);

const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, {
  message: 'expected a name of letters, digits, _ . - (max 64)',
});

const url = z.string().url({ message: 'expected an absolute URL' });

/**
 * A URL tokenwarden sends a secret to (a token, a bot token, a link carrying state): https://,
 * or http:// only to a loopback host — the rule OAuth endpoints obey, checked when the config loads.
 */
const secretUrl = url.superRefine((v, ctx) => {
  if (!URL.canParse(v)) return; // reported by `url`
  const problem = outboundUrlProblem(v);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

export const channelSchema = z.discriminatedUnion('type', [
  z
    .strictObject({
      type: z.literal('telegram'),
      bot_token: z.string().min(1).describe('Bot token from @BotFather (use ${TELEGRAM_BOT_TOKEN}).'),
      chat_id: z.union([z.number().int(), z.string().min(1)]).describe('Chat to post re-authorization requests to.'),
      allow_from: z.array(z.number().int()).min(1).describe('Telegram user ids whose pastes are accepted.'),
      api_root: secretUrl.optional().describe('Bot API server root (default https://api.telegram.org).'),
      poll_timeout: duration('long-poll timeout').optional().describe('getUpdates long-poll timeout (default 30s).'),
    })
    .describe('Two-way chat: sends links, receives pasted redirect URLs.'),
  z.strictObject({
    type: z.literal('slack'),
    url: secretUrl.describe('Incoming webhook URL.'),
  }),
  z.strictObject({
    type: z.literal('ntfy'),
    url: secretUrl.describe('Topic URL, e.g. https://ntfy.sh/my-topic.'),
    token: z.string().optional().describe('Bearer token for a protected topic.'),
  }),
  z.strictObject({
    type: z.literal('webhook'),
    url: secretUrl.describe('Receives a JSON POST per notification.'),
    secret: z.string().optional().describe('If set, the body is signed with HMAC-SHA256 in X-Tokenwarden-Signature.'),
  }),
  z.strictObject({
    type: z.literal('email'),
    mailbox: name.describe('Mailbox whose non-OAuth route sends the message.'),
    to: z.string().min(3).describe('Address of the human.'),
  }),
  z.strictObject({ type: z.literal('console') }).describe('Writes to stderr.'),
]);

const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

export const apiProxySchema = z.strictObject({
  methods: z
    .array(z.enum(HTTP_METHODS))
    .min(1)
    .default(['GET'])
    .describe('HTTP methods allowed through the proxy (default GET only).'),
  paths: z
    .array(
      z
        .string()
        .regex(/^\/[^?#%\\]*$/, { message: 'expected a path starting with / (no query, no percent-encoding)' })
        .refine((p) => !p.split('/').some((seg) => seg === '.' || seg === '..'), {
          message: 'a path may not contain . or .. segments',
        }),
    )
    .min(1)
    .describe(
      "Allowed API paths relative to api_base: a request may use a listed path or anything below it ('/gmail/v1/users/me/messages' allows '/gmail/v1/users/me/messages/ID').",
    ),
  max_request_bytes: z
    .number()
    .int()
    .positive()
    .default(10 * 1024 * 1024)
    .describe('Largest request body forwarded (bytes).'),
  max_response_bytes: z
    .number()
    .int()
    .positive()
    .default(50 * 1024 * 1024)
    .describe('Largest response body passed back (bytes); a longer one is cut off and the connection reset.'),
  timeout: duration('upstream timeout').default(60_000).describe('Give up on the upstream after this long.'),
});

export const connectionSchema = z
  .strictObject({
    provider: z.enum(['google', 'microsoft', 'github', 'oidc', 'oauth2']).describe('Provider profile.'),
    kind: z
      .enum(['oauth', 'client_credentials', 'service_account', 'static'])
      .default('oauth')
      .describe(
        'oauth: user grant with refresh token; client_credentials; service_account (Google JWT bearer); static secret.',
      ),
    client_id: z.string().min(1).optional().describe('OAuth client id (required for oauth and client_credentials).'),
    client_secret: z.string().optional().describe('OAuth client secret (use ${VAR}; omit for public clients).'),
    scopes: z
      .array(z.string().min(1))
      .default([])
      .describe(
        'Scopes to request. Google: short names (gmail.send, gmail.readonly, ...) expand to https://www.googleapis.com/auth/...; Microsoft: offline_access is always added (no refresh token without it).',
      ),
    issuer: secretUrl.optional().describe('OIDC issuer (provider oidc): endpoints come from discovery.'),
    tenant: z.string().optional().describe('Microsoft tenant (default common).'),
    auth_url: secretUrl.optional().describe('Authorization endpoint override (provider oauth2: required).'),
    token_url: secretUrl.optional().describe('Token endpoint override (provider oauth2: required).'),
    device_url: secretUrl.optional().describe('Device authorization endpoint override (RFC 8628).'),
    revoke_url: secretUrl.optional().describe('Revocation endpoint override (RFC 7009).'),
    userinfo_url: secretUrl.optional().describe('Userinfo endpoint override (health probe and account identity).'),
    api_base: secretUrl
      .optional()
      .describe("Base URL of the provider API, used by the health probe and the API proxy (default: the provider's)."),
    api_proxy: apiProxySchema
      .optional()
      .describe(
        'Let API-key holders call the provider API through the daemon (`/api/v1/connections/NAME/proxy/PATH`, MCP `api_request`) with the token injected; off unless set.',
      ),
    git_hosts: z
      .array(
        z.string().regex(/^(https?:\/\/)?[A-Za-z0-9.-]+(:\d+)?$/, {
          message: 'expected host[:port] (https) or http(s)://host[:port]',
        }),
      )
      .optional()
      .describe(
        '`tokenwarden git-credential` answers for these hosts: host[:port] means https; write http://host:port for plain HTTP (default: github.com for provider github, none otherwise).',
      ),
    git_username: z
      .string()
      .min(1)
      .regex(/^[^\s]+$/, { message: 'expected a username without spaces' })
      .optional()
      .describe('Username `git-credential` answers with (default: x-access-token for GitHub, oauth2 otherwise).'),
    redirect_uri: url
      .optional()
      .describe('Registered redirect URI; loopback http://127.0.0.1:PORT/... enables callback capture.'),
    flow: z
      .enum(['auto', 'device', 'auth_code'])
      .default('auto')
      .describe(
        'Human flow: auto picks device code where the provider and scopes allow it, else authorization code + PKCE.',
      ),
    app_status: z
      .enum(['testing', 'production'])
      .optional()
      .describe('Google: in testing, refresh tokens die 7 days after consent.'),
    refresh_token_ttl: duration('refresh token lifetime')
      .optional()
      .describe('Override predicted refresh-token lifetime.'),
    notify: z.array(name).default([]).describe('Channels to ask, in escalation order.'),
    reauth_lead: duration('lead time')
      .default(86_400_000)
      .describe('Open a renewal flow this long before predicted death.'),
    remind_after: duration('reminder').default(600_000).describe('Remind/escalate after this long without an answer.'),
    quiet_hours: z
      .string()
      .regex(/^\d{1,2}:\d{2}-\d{1,2}:\d{2}( [A-Za-z_]+(\/[A-Za-z_+-]+)*)?$/, {
        message: 'expected "HH:MM-HH:MM [IANA zone]", e.g. "22:00-07:30 Europe/Berlin"',
      })
      .optional()
      .describe(
        'Do not send predicted-expiry renewals in this window ("22:00-07:30 Europe/Berlin"); a dead credential is always reported.',
      ),
    auth_params: z
      .record(z.string(), z.string())
      .optional()
      .describe(
        'Extra authorization request parameters. Google: access_type=offline and prompt=consent are always sent and cannot be replaced.',
      ),
    allow_account_change: z
      .boolean()
      .optional()
      .describe(
        "Accept a re-authorization with another account than the connection's (default false: refused, recorded).",
      ),
    // service_account
    key_file: z.string().optional().describe('service_account: path to the Google JSON key.'),
    subject: z.string().optional().describe('service_account: user to impersonate (domain-wide delegation).'),
    // static
    secret: z.string().optional().describe('static: the API key or app password.'),
    account: z.string().optional().describe('Account identity shown in status (email, login).'),
  })
  .superRefine((c, ctx) => {
    if (c.provider === 'oidc' && !c.issuer)
      ctx.addIssue({ code: 'custom', path: ['issuer'], message: 'required for provider oidc' });
    if (c.provider === 'oauth2' && c.kind === 'oauth' && (!c.auth_url || !c.token_url))
      ctx.addIssue({ code: 'custom', path: ['token_url'], message: 'provider oauth2 needs auth_url and token_url' });
    if ((c.kind === 'oauth' || c.kind === 'client_credentials') && !c.client_id)
      ctx.addIssue({ code: 'custom', path: ['client_id'], message: `required for kind ${c.kind}` });
    if (c.kind === 'service_account' && !c.key_file)
      ctx.addIssue({ code: 'custom', path: ['key_file'], message: 'required for kind service_account' });
    if (c.kind === 'static' && !c.secret)
      ctx.addIssue({ code: 'custom', path: ['secret'], message: 'required for kind static' });
    if (c.api_proxy && !c.api_base && (c.provider === 'oidc' || c.provider === 'oauth2'))
      ctx.addIssue({
        code: 'custom',
        path: ['api_base'],
        message: `api_proxy needs api_base for provider ${c.provider}`,
      });
    checkProviderRules(c, ctx);
  })
  .overwrite(withProviderDefaults);

const tlsOpts = {
  host: z.string().min(1).describe('Server host name.'),
  port: z.number().int().min(1).max(65535).describe('Server port (465/993 implicit TLS, 587/143 STARTTLS).'),
  secure: z.boolean().optional().describe('Implicit TLS (465/993). Default: true for 465/993.'),
  starttls: z.boolean().optional().describe('Require STARTTLS on a plain port.'),
  user: z.string().min(1).describe('Login, usually the mail address.'),
  password: z.string().optional().describe('App Password.'),
  connection: name.optional().describe("Use XOAUTH2 with this connection's access token."),
  tls_reject_unauthorized: z.boolean().optional().describe('Set false only for a self-signed test server.'),
};

const smtpRoute = z.strictObject({ smtp: z.strictObject(tlsOpts) });
const imapRoute = z.strictObject({ imap: z.strictObject(tlsOpts) });
const apiTarget = z.union([
  name.describe('Connection name.'),
  z.strictObject({
    connection: name.describe('Connection name.'),
    api_base: secretUrl.optional().describe('API base URL override (tests, proxies).'),
  }),
]);
const gmailRoute = z.strictObject({ gmail: apiTarget.describe('Gmail REST with this connection.') });
const graphRoute = z.strictObject({ graph: apiTarget.describe('Microsoft Graph with this connection.') });

export const mailboxSchema = z.strictObject({
  address: z.string().min(3).describe('The mailbox address (default From).'),
  send: z
    .array(z.union([gmailRoute, graphRoute, smtpRoute]))
    .default([])
    .describe('Send routes in failover order: gmail, graph or smtp.'),
  read: z
    .array(z.union([gmailRoute, graphRoute, imapRoute]))
    .default([])
    .describe('Read routes in fallback order: gmail, graph or imap.'),
  max_message_bytes: z
    .number()
    .int()
    .positive()
    .default(25 * 1024 * 1024)
    .describe('Largest message accepted (bytes, MIME encoded).'),
});

export const serverSchema = z.strictObject({
  listen: z
    .string()
    .regex(/^[^:]+:\d+$|^\[[0-9a-fA-F:]+\]:\d+$/, { message: 'expected host:port, e.g. 127.0.0.1:7465' })
    .default('127.0.0.1:7465')
    .describe('Address to bind (loopback by default).'),
  public_url: url.optional().describe("How the human's browser reaches this server (for callbacks and the dashboard)."),
  api_key: z.string().optional().describe('API key (default: file .tokenwarden/api-key written by init).'),
  api_key_file: z.string().optional().describe('File holding the API key (default .tokenwarden/api-key).'),
  allow_insecure_public: z
    .boolean()
    .default(false)
    .describe('Allow plain HTTP on a non-loopback address (behind a TLS proxy only).'),
  tls_cert: z.string().optional().describe('PEM certificate file: serve HTTPS directly.'),
  tls_key: z.string().optional().describe('PEM private key file for tls_cert.'),
});

export const mcpSchema = z.strictObject({
  send_rate: z
    .string()
    .refine((v) => parseSendRate(v) !== null, { message: 'expected COUNT/PERIOD, e.g. 20/min, 100/h or 5/10m' })
    .default('20/min')
    .describe(
      'Most messages the MCP send_email tool sends per mailbox in the period (20/min, 100/h; 0/min switches it off); over it the tool answers an error saying when to try again.',
    ),
  allowed_recipients: z
    .array(
      z.string().regex(ALLOWED_RECIPIENT_RE, {
        message: 'expected an address (bob@example.com) or a domain (@example.com)',
      }),
    )
    .optional()
    .describe(
      'If set, send_email (MCP) delivers only to these addresses and @domains (To, Cc and Bcc); anything else is refused before it is queued. The library, CLI and HTTP API are not restricted.',
    ),
});

export const eventsSchema = z.strictObject({
  retention_days: z
    .number()
    .int()
    .positive()
    .default(90)
    .describe('Events older than this many days are deleted (the daemon prunes hourly).'),
  max_rows: z
    .number()
    .int()
    .positive()
    .default(100_000)
    .describe('At most this many events are kept; the oldest beyond it are deleted.'),
});

export const proxySchema = z
  .strictObject({
    protocol: z
      .enum(['smtp', 'imap'])
      .describe(
        'smtp: accept mail from password-only clients and send it through the mailbox outbox; imap: log in upstream for them and relay the session.',
      ),
    listen: z
      .string()
      .regex(/^[^:]+:\d+$|^\[[0-9a-fA-F:]+\]:\d+$/, { message: 'expected host:port, e.g. 127.0.0.1:2525' })
      .describe('Address to bind, e.g. 127.0.0.1:2525. Beyond loopback, tls is required.'),
    mailbox: name.describe('The mailbox whose routes (and, for smtp, outbox) the proxy uses.'),
    password: z
      .string()
      .min(12, { message: 'expected at least 12 characters' })
      .describe(
        'What the local client logs in with (use ${PROXY_PASSWORD}); never a provider secret. At least 12 characters.',
      ),
    username: z
      .string()
      .min(1)
      .optional()
      .describe('User name the local client must give (default: any user name; the password decides).'),
    tls: z
      .strictObject({
        cert: z.string().min(1).describe('PEM certificate file.'),
        key: z.string().min(1).describe('PEM private key file.'),
        mode: z
          .enum(['implicit', 'starttls'])
          .default('implicit')
          .describe(
            'implicit: TLS from the first byte (ports 465/993); starttls: plain greeting, then STARTTLS (smtp only; required before AUTH).',
          ),
      })
      .optional()
      .describe('TLS for the local side; required when listen is not a loopback address.'),
  })
  .describe('A local SMTP or IMAP endpoint for clients that only know a user name and password.');

/** An empty YAML section (`connections:` followed only by comments) reads as null: treat it as empty. */
const section = <T extends z.ZodType>(schema: T) => z.preprocess((v) => (v === null ? undefined : v), schema);

export const configSchema = z.strictObject({
  store: z
    .string()
    .regex(/^(sqlite:.+|postgres(ql)?:\/\/.+|:memory:)$/, { message: 'expected sqlite:PATH or postgres://…' })
    .default(DEFAULT_STORE)
    .describe('sqlite:PATH (embedded default) or postgres://user@host:5432/db (several hosts share credentials).'),
  key: z
    .string()
    .regex(/^(env:[A-Za-z_][A-Za-z0-9_]*|file:.+)$/, { message: 'expected env:VAR or file:PATH' })
    .default(DEFAULT_KEY)
    .describe('32-byte AES-256-GCM key, base64: env:VAR or file:PATH (written 0600 by init).'),
  server: serverSchema
    .default({ listen: '127.0.0.1:7465', allow_insecure_public: false })
    .describe('HTTP server of the daemon: callback, API, dashboard, metrics.'),
  channels: section(z.record(name, channelSchema).default({}).describe('Ways to reach the human, by name.')),
  connections: section(
    z.record(name, connectionSchema).default({}).describe('Delegated authorizations to keep alive, by name.'),
  ),
  mailboxes: section(
    z.record(name, mailboxSchema).default({}).describe('Mail addresses with ordered send/read routes, by name.'),
  ),
  mcp: mcpSchema.default({ send_rate: '20/min' }).describe('Limits on what an agent may do through `tokenwarden mcp`.'),
  events: eventsSchema
    .default({ retention_days: 90, max_rows: 100_000 })
    .describe('The event log (dashboard timeline, API, audit): how much of it is kept.'),
  proxies: section(
    z
      .record(name, proxySchema)
      .default({})
      .describe('Local SMTP/IMAP proxies run by `tokenwarden serve` for password-only clients, by name.'),
  ),
});

export type Config = z.output<typeof configSchema>;
export type ConnectionConfig = z.output<typeof connectionSchema>;
export type ChannelConfig = z.output<typeof channelSchema>;
export type MailboxConfig = z.output<typeof mailboxSchema>;
export type ApiProxyConfig = z.output<typeof apiProxySchema>;
export type ServerConfig = z.output<typeof serverSchema>;
export type McpConfig = z.output<typeof mcpSchema>;
export type EventsConfig = z.output<typeof eventsSchema>;
export type ProxyConfig = z.output<typeof proxySchema>;
export type ConfigInput = z.input<typeof configSchema>;
