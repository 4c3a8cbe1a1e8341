/**
 * The Model Context Protocol server (`tokenwarden mcp`): lets an agent ask "can I send mail
 * now, and if not, what is being done?" and get an answer in words plus structured content.
 *
 * Tools: `credential_status`, `request_reauthorization`, `send_email`, `read_email`, `api_request`.
 * Resources: `tokenwarden://status` and `tokenwarden://connections/{name}`.
 *
 * Rules: access and refresh tokens are never handed to the model (no tool returns one, and
 * every text passes through `redact`); a dead credential is an answer the agent can act on
 * (cause, who was asked, what still works), never a stack trace.
 *
 * @see https://modelcontextprotocol.io/specification/2025-06-18/server/tools
 */
import { McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { parseDuration } from '../core/duration.js';
import { ReauthRequiredError, TokenwardenError, TransientError, channelNames } from '../core/errors.js';
import { redact } from '../core/logger.js';
import { grantDied, needsHuman, type ConnectionState } from '../core/types.js';
import { bareAddress, MAX_RECIPIENTS, normaliseMessage, type MailMessage } from '../mail/message.js';
import type { ListQuery } from '../mail/routes/types.js';
import { notifyFlow } from '../reauth/notify.js';
import { partsOf, type Warden } from '../warden.js';
import { apiRequest, apiRequestInput } from './api-request.js';
import { at, describeConnection, routeFacts, type AgentConnectionView, type RouteFact } from './describe.js';
import { parseSendRate, recipientsNotAllowed, SendLimiter } from './send-policy.js';

export interface McpServerOptions {
  /** Reported to clients (default: tokenwarden's package version). */
  version?: string;
}

/** Build the MCP server over an open warden; connect it to a transport (stdio in `tokenwarden mcp`). */
export function createMcpServer(warden: Warden, opts: McpServerOptions = {}): McpServer {
  const server = new McpServer(
    { name: 'tokenwarden', version: opts.version ?? '0.1.0' },
    {
      instructions:
        'tokenwarden keeps OAuth credentials alive and gets a human to re-authorize when a grant dies. ' +
        'Call credential_status before work that needs a connection; if it says a human was asked, do not ask again — ' +
        'use what still works (e.g. the App Password mail route) and check later. Tokens are never returned.',
    },
  );
  const now = (): number => partsOf(warden).deps.clock.now();
  const mailboxNames = Object.keys(warden.config.mailboxes);
  const mcpConfig = warden.config.mcp ?? { send_rate: '20/min' };
  const sendRate = parseSendRate(mcpConfig.send_rate) ?? { count: 20, windowMs: 60_000 };
  const sendLimiter = new SendLimiter(sendRate, now);
  const allowedRecipients = mcpConfig.allowed_recipients;

  /** Status facts of every (or one) connection, with what still works through mail routes. */
  const facts = async (only?: string): Promise<AgentConnectionView[]> => {
    const all = await warden.status();
    const list = only ? all.filter((s) => s.name === only) : all;
    if (only && !list.length)
      throw new TokenwardenError(
        'TW_NOT_FOUND',
        `No connection named "${only}" (configured: ${all.map((s) => s.name).join(', ') || 'none'}).`,
      );
    const states = new Map<string, ConnectionState>(all.map((s) => [s.name, s.state]));
    const routes = await mailRoutes(states);
    return Promise.all(
      list.map(async (s) => {
        const deadSince = grantDied(s.state)
          ? ((await partsOf(warden).store.listEvents({ connection: s.name, newestFirst: true, limit: 50 })).find(
              (e) => e.type === 'reauth_required',
            )?.at ?? null)
          : null;
        return describeConnection(s, {
          now: now(),
          displayName: partsOf(warden).connections.get(s.name)?.profile.displayName ?? s.provider,
          routes,
          deadSince,
          notify: warden.config.connections[s.name]?.notify ?? [],
          channels: warden.config.channels,
        });
      }),
    );
  };

  const mailRoutes = async (states: ReadonlyMap<string, ConnectionState>): Promise<RouteFact[]> => {
    if (!mailboxNames.length) return [];
    const health = (await (await warden.mail()).status()).flatMap((m) => m.routes);
    return routeFacts(warden.config, health, states);
  };

  /**
   * This process is rarely the only one using the store (a daemon refreshes, a human's paste is
   * exchanged elsewhere): before each tool call the store's change feed catches up (SQLite: one
   * `PRAGMA data_version` when nothing changed), so the keeper drops the cached token of every
   * connection another process changed and the next use reads the store's current row. (It read
   * and decrypted every row per call before: seconds at 100,000 connections.)
   */
  const adoptOtherProcesses = async (): Promise<void> => {
    await partsOf(warden).store.catchUpChanges?.();
  };
  const run = (fn: Parameters<typeof answer>[0]): Promise<CallToolResult> =>
    answer(async () => (await adoptOtherProcesses(), fn()), facts);

  const pickMailbox = (name: string | undefined): string => {
    if (name) return name;
    if (mailboxNames.length === 1) return mailboxNames[0] as string;
    throw new TokenwardenError(
      'TW_BAD_INPUT',
      mailboxNames.length
        ? `Say which mailbox: ${mailboxNames.join(', ')}.`
        : 'No mailboxes are configured in tokenwarden.yaml.',
    );
  };

  // ------------------------------------------------------------------ tools

  server.registerTool(
    'credential_status',
    {
      title: 'Credential status',
      description:
        'State of every configured connection (or one): healthy or not, token expiries, the diagnosed cause of a dead grant and its fix, ' +
        'whether and when a human was asked to re-authorize and where, and which mail routes still work. Never returns tokens.',
      inputSchema: { connection: z.string().optional().describe('Connection name; omit for all.') },
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    ({ connection }) =>
      run(async () => {
        const list = await facts(connection);
        const text = list.length ? list.map((f) => f.sentence).join('\n\n') : 'No connections are configured.';
        return { text, structured: { connections: list } };
      }),
  );

  server.registerTool(
    'request_reauthorization',
    {
      title: 'Ask the human to re-authorize',
      description:
        "Open (or reuse) a re-authorization flow for a connection and send its link to the human through the connection's notify channels " +
        '(or the channels given). Says where and when the human was asked. One open flow per connection: calling again does not spam the human.',
      inputSchema: {
        connection: z.string().describe('Connection name.'),
        via: z.array(z.string()).optional().describe("Channels to use instead of the connection's notify list."),
        force: z.boolean().optional().describe('Ask even though the connection is healthy (early renewal).'),
      },
      annotations: { destructiveHint: false, idempotentHint: true, openWorldHint: true },
    },
    ({ connection, via, force }) =>
      run(async () => {
        const s = (await warden.status()).find((x) => x.name === connection);
        if (!s)
          throw new TokenwardenError(
            'TW_NOT_FOUND',
            `No connection named "${connection}" (configured: ${[...partsOf(warden).connections.keys()].join(', ') || 'none'}).`,
          );
        const serving = !needsHuman(s.state);
        if (serving && !force)
          return {
            text: `${connection} is ${s.state}; no re-authorization is needed (pass force: true to renew early).`,
            structured: { connection, state: s.state, asked: false },
          };
        const reused = (await partsOf(warden).store.listOpenFlows(connection)).some(
          (f) => f.expiresAt > now() && f.askedVia.length > 0,
        );
        let flow = await partsOf(warden).flows.open(connection, {
          reason: s.cause?.id ?? (serving ? 'renewal' : 'manual'),
        });
        const targets = (via ?? warden.config.connections[connection]?.notify ?? []).filter(
          (c) => !flow.askedVia.includes(c),
        );
        const unknown = targets.filter((c) => !warden.config.channels[c]);
        const sentNow = await notifyFlow(
          partsOf(warden),
          flow,
          targets.filter((c) => warden.config.channels[c]),
        );
        flow = (await partsOf(warden).store.getFlow(flow.id)) ?? flow;
        const t = now();
        const parts: string[] = [];
        if (sentNow.length)
          parts.push(
            `Asked the human to re-authorize ${connection} via ${channelNames(sentNow, warden.config.channels)} at ${at(t, t)}.`,
          );
        if (reused && !sentNow.length)
          parts.push(
            `The human was already asked via ${channelNames(flow.askedVia, warden.config.channels)} at ${at(flow.createdAt, t)}; not asking again.`,
          );
        if (!flow.askedVia.length)
          parts.push(
            `No channel delivered the link${unknown.length ? ` (unknown channels: ${unknown.join(', ')})` : targets.length ? '' : ' (none configured)'}: give the human this link yourself: ${flow.url}`,
          );
        parts.push(
          flow.kind === 'device_code'
            ? `They open the link and enter code ${flow.userCode ?? ''}; tokenwarden notices the approval by itself.`
            : "They open the link, approve, and paste the address the browser ends on into the chat, the dashboard or `tokenwarden complete '<url>'`; it is exchanged at once.",
        );
        parts.push(
          `The link expires at ${at(flow.expiresAt, t)}. Call credential_status to see when ${connection} is healthy again.`,
        );
        return {
          text: parts.join(' '),
          structured: {
            connection,
            flow_id: flow.id,
            kind: flow.kind,
            link: flow.url,
            user_code: flow.userCode,
            asked_via: flow.askedVia,
            asked_now: sentNow,
            reused,
            asked_at: new Date(flow.createdAt).toISOString(),
            expires_at: new Date(flow.expiresAt).toISOString(),
          },
        };
      }),
  );

  server.registerTool(
    'send_email',
    {
      title: 'Send email',
      description:
        "Send mail through a mailbox's routes (e.g. Gmail API, then SMTP with an App Password) via the durable outbox. " +
        'Says which route carried it and why a fallback was used. A queued message is retried automatically: do not send it again. ' +
        `Limits: at most ${MAX_RECIPIENTS} recipients (to, cc, bcc together) per message; ${sendRate.count} message(s) per mailbox per ${Math.round(sendRate.windowMs / 1000)} s` +
        (allowedRecipients ? `; only to these recipients: ${allowedRecipients.join(', ')}` : '') +
        '. A refusal says why and when to try again.',
      inputSchema: {
        mailbox: z.string().optional().describe('Mailbox name (optional when only one is configured).'),
        to: z.union([z.string(), z.array(z.string())]).describe('Recipient address(es).'),
        subject: z.string(),
        text: z.string().optional().describe('Plain-text body.'),
        html: z.string().optional().describe('HTML body.'),
        cc: z.union([z.string(), z.array(z.string())]).optional(),
        bcc: z.union([z.string(), z.array(z.string())]).optional(),
        in_reply_to: z.string().optional().describe('Message-ID this replies to (threads the reply).'),
        idempotency_key: z.string().optional().describe('Same key = same message: a retry never sends a second copy.'),
      },
      annotations: { destructiveHint: false, idempotentHint: false, openWorldHint: true },
    },
    (a) =>
      run(async () => {
        const mailbox = pickMailbox(a.mailbox);
        const box = warden.mailbox(mailbox);
        const msg: MailMessage = { to: a.to, subject: a.subject };
        if (a.text !== undefined) msg.text = a.text;
        if (a.html !== undefined) msg.html = a.html;
        if (a.cc !== undefined) msg.cc = a.cc;
        if (a.bcc !== undefined) msg.bcc = a.bcc;
        if (a.in_reply_to !== undefined) msg.inReplyTo = a.in_reply_to;
        if (a.idempotency_key !== undefined) msg.idempotencyKey = a.idempotency_key;
        // Recipients are checked (count, allow-list) and the message counted before it is queued.
        const n = normaliseMessage(msg, warden.config.mailboxes[mailbox]?.address ?? '');
        if (allowedRecipients) {
          const refused = recipientsNotAllowed(allowedRecipients, [...n.to, ...n.cc, ...n.bcc].map(bareAddress));
          if (refused.length)
            throw new TokenwardenError(
              'TW_BAD_INPUT',
              `Not sent: ${refused.slice(0, 10).join(', ')}${refused.length > 10 ? ` and ${refused.length - 10} more` : ''} ` +
                `${refused.length === 1 ? 'is' : 'are'} not among the recipients allowed through MCP (mcp.allowed_recipients: ${allowedRecipients.join(', ')}). Nothing was queued.`,
            );
        }
        sendLimiter.take(mailbox);
        const r = await box.send(msg);
        const routes = (await mailRoutes(new Map((await warden.status()).map((s) => [s.name, s.state])))).filter(
          (x) => x.mailbox === mailbox && x.direction === 'send',
        );
        const used = routes.find((x) => x.route === r.route);
        const skipped = used ? routes.slice(0, routes.indexOf(used)) : [];
        const why = skipped.map((x) => `${x.route}: ${x.why ?? 'failed'}`).join('; ');
        let text: string;
        if (r.status === 'sent')
          text =
            `Sent from mailbox ${mailbox} through ${r.route ?? 'a route'}${used ? (used.auth === 'app password' ? ' (App Password)' : ` (OAuth via ${used.connection ?? '?'})`) : ''}` +
            `${skipped.length ? `, as a fallback because ${why}` : ''}. Message-ID ${r.messageId}.`;
        else if (r.status === 'queued')
          text = `Queued in mailbox ${mailbox}'s durable outbox (Message-ID ${r.messageId}): no route could deliver it right now${r.error ? ` (${r.error})` : ''}. It is retried automatically by the daemon (tokenwarden serve); do not send it again.`;
        else
          text = `Not sent from mailbox ${mailbox}: ${r.error ?? 'every route refused it'}. Message-ID ${r.messageId}.`;
        return {
          text,
          isError: r.status === 'failed',
          structured: {
            mailbox,
            status: r.status,
            route: r.route ?? null,
            fallback_from: skipped.map((x) => x.route),
            message_id: r.messageId,
            outbox_id: r.id,
            error: r.error ?? null,
          },
        };
      }),
  );

  server.registerTool(
    'read_email',
    {
      title: 'Read email',
      description:
        'List recent messages of a mailbox (newest first), falling back across its read routes. Says which route answered.',
      inputSchema: {
        mailbox: z.string().optional().describe('Mailbox name (optional when only one is configured).'),
        since: z.string().optional().describe('A duration like 24h or 7d, or an ISO date.'),
        query: z.string().optional().describe('Provider search text (Gmail q, IMAP TEXT).'),
        limit: z.number().int().min(1).max(100).optional().describe('Default 20.'),
      },
      annotations: { readOnlyHint: true, openWorldHint: true },
    },
    (a) =>
      run(async () => {
        const mailbox = pickMailbox(a.mailbox);
        const q: ListQuery = { limit: a.limit ?? 20 };
        if (a.query) q.query = a.query;
        if (a.since) {
          const d = parseDuration(a.since);
          const t = d !== null ? now() - d : Date.parse(a.since);
          if (Number.isNaN(t))
            throw new TokenwardenError(
              'TW_BAD_INPUT',
              `since: expected a duration like 24h or an ISO date, got "${a.since}".`,
            );
          q.since = new Date(t);
        }
        let r;
        try {
          r = await warden.mailbox(mailbox).list(q);
        } catch (err) {
          // Every read route is down: if a connection that needs its human is why, say so in words.
          const all = await warden.status();
          const routes = (await mailRoutes(new Map(all.map((s) => [s.name, s.state])))).filter(
            (x) => x.mailbox === mailbox && x.direction === 'read',
          );
          const dead = routes.find(
            (x) => x.connection && needsHuman(all.find((s) => s.name === x.connection)?.state ?? 'healthy'),
          );
          if (!dead?.connection || routes.some((x) => x.usable)) throw err;
          const [f] = await facts(dead.connection);
          return {
            text: `Cannot read mailbox ${mailbox} right now: no read route works. ${f?.sentence ?? ''}`,
            isError: true,
            structured: { mailbox, routes, connection: f ?? null },
          };
        }
        const list = r.messages
          .map((m) => `- ${m.date.slice(0, 16).replace('T', ' ')} from ${m.from}: ${m.subject}`)
          .join('\n');
        const head = `${r.messages.length} message${r.messages.length === 1 ? '' : 's'} in mailbox ${mailbox}, read through ${r.route}${r.fellBackFrom?.length ? ` (fallback: ${r.fellBackFrom.join(', ')} unavailable)` : ''}.`;
        return {
          text: list ? `${head}\n${list}` : head,
          structured: {
            mailbox,
            route: r.route,
            fallback_from: r.fellBackFrom ?? [],
            messages: r.messages.map((m) => ({
              id: m.id,
              message_id: m.messageId ?? null,
              thread_id: m.threadId ?? null,
              from: m.from,
              to: m.to,
              subject: m.subject,
              date: m.date,
              snippet: m.snippet ?? null,
            })),
          },
        };
      }),
  );

  server.registerTool(
    'api_request',
    {
      title: 'Call a provider API',
      description:
        "Call a connection's provider API (e.g. Gmail REST) with its OAuth token injected by tokenwarden; only the methods and paths " +
        "the connection's api_proxy config allows. Returns the HTTP status and body; a dead grant is answered with its cause. Tokens are never returned.",
      inputSchema: apiRequestInput,
      annotations: { destructiveHint: true, openWorldHint: true },
    },
    (a) => run(() => apiRequest(warden, a)),
  );

  // -------------------------------------------------------------- resources

  server.registerResource(
    'status',
    'tokenwarden://status',
    {
      title: 'Credential status',
      description: 'Every connection: state, expiries, cause, open flow, what still works (JSON).',
      mimeType: 'application/json',
    },
    async (uri) => ({
      contents: [
        {
          uri: uri.href,
          mimeType: 'application/json',
          text: redact(JSON.stringify({ connections: await facts() }, null, 2)),
        },
      ],
    }),
  );

  server.registerResource(
    'connection',
    new ResourceTemplate('tokenwarden://connections/{name}', {
      list: () => ({
        resources: [...partsOf(warden).connections.keys()].map((n) => ({
          uri: `tokenwarden://connections/${n}`,
          name: n,
          mimeType: 'application/json',
        })),
      }),
    }),
    {
      title: 'One connection',
      description: 'State, cause, open flow and fallbacks of one connection (JSON).',
      mimeType: 'application/json',
    },
    async (uri, { name }) => {
      const [f] = await facts(String(name));
      return { contents: [{ uri: uri.href, mimeType: 'application/json', text: redact(JSON.stringify(f, null, 2)) }] };
    },
  );

  return server;
}

/**
 * Run a tool body and shape its result: plain text (redacted) plus structured content. Errors
 * become answers in words: a dead grant names its cause, who was asked and what still works.
 */
async function answer(
  fn: () => Promise<{ text: string; structured: Record<string, unknown>; isError?: boolean }>,
  facts?: (conn: string) => Promise<AgentConnectionView[]>,
): Promise<CallToolResult> {
  // `facts` (optional) turns a ReauthRequiredError into the connection's full status sentence.
  try {
    const r = await fn();
    return {
      content: [{ type: 'text', text: redact(r.text) }],
      structuredContent: r.structured,
      ...(r.isError ? { isError: true } : {}),
    };
  } catch (err) {
    if (err instanceof ReauthRequiredError) {
      const f = facts ? (await facts(err.connection).catch(() => []))[0] : undefined;
      const text = `Not possible right now: ${f ? f.sentence : err.message}`;
      return {
        isError: true,
        content: [{ type: 'text', text: redact(text) }],
        structuredContent: {
          error: { code: err.code, connection: err.connection, cause: err.diagnosis, fallbacks: err.fallbacks },
          ...(f ? { connection: f } : {}),
        },
      };
    }
    if (err instanceof TransientError)
      return {
        isError: true,
        content: [{ type: 'text', text: redact(`Temporarily unavailable: ${err.message}. Try again later.`) }],
        structuredContent: { error: err.toJSON() },
      };
    if (err instanceof TokenwardenError)
      return {
        isError: true,
        content: [{ type: 'text', text: redact(err.message) }],
        structuredContent: { error: err.toJSON() },
      };
    return {
      isError: true,
      content: [
        { type: 'text', text: redact(`Unexpected error: ${err instanceof Error ? err.message : String(err)}`) },
      ],
    };
  }
}
