/**
 * MCP tools about credentials: `credential_status` (the one status view plus what still works)
 * and `request_reauthorization` (the request-reauth action: one open flow per connection).
 */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { unknownConnection } from '../actions/get-token.js';
import { requestReauth, type ReauthOutcome } from '../actions/request-reauth.js';
import { channelNames } from '../core/errors.js';
import { needsHuman } from '../core/types.js';
import type { McpContext } from './context.js';
import { at } from './describe.js';

/** `credential_status`: the state of every connection (or one), in words and as JSON. */
export function registerStatusTool(server: McpServer, ctx: McpContext): void {
  const { run, facts } = ctx;
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
}

/** `request_reauthorization`: ask the human through the one request-reauth action. */
export function registerReauthTool(server: McpServer, ctx: McpContext): void {
  const { run, warden, parts } = ctx;
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
        if (!s) throw unknownConnection(parts.connections, connection);
        const serving = !needsHuman(s.state);
        if (serving && !force)
          return {
            text: `${connection} is ${s.state}; no re-authorization is needed (pass force: true to renew early).`,
            structured: { connection, state: s.state, asked: false },
          };
        const out = await requestReauth({ asker: ctx.asker(), channels: warden.config.channels }, connection, {
          reason: s.cause?.id ?? (serving ? 'renewal' : 'manual'),
          ...(via ? { via } : {}),
        });
        return reauthAnswer(ctx, connection, out);
      }),
  );
}

/** What the agent is told after asking: where and when the human was asked, or the link to pass on. */
function reauthAnswer(
  ctx: McpContext,
  connection: string,
  out: ReauthOutcome,
): { text: string; structured: Record<string, unknown> } {
  const { flow, askedNow, reused, unknownChannels } = out;
  const channels = ctx.warden.config.channels;
  const t = ctx.now();
  const parts: string[] = [];
  if (askedNow.length)
    parts.push(`Asked the human to re-authorize ${connection} via ${channelNames(askedNow, channels)} at ${at(t, t)}.`);
  if (reused && !askedNow.length)
    parts.push(
      `The human was already asked via ${channelNames(flow.askedVia, channels)} at ${at(flow.createdAt, t)}; not asking again.`,
    );
  if (!flow.askedVia.length)
    parts.push(
      `No channel delivered the link${unknownChannels.length ? ` (unknown channels: ${unknownChannels.join(', ')})` : (ctx.warden.config.connections[connection]?.notify.length ?? 0) ? '' : ' (none configured)'}: give the human this link yourself: ${flow.url}`,
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
      asked_now: askedNow,
      reused,
      asked_at: new Date(flow.createdAt).toISOString(),
      expires_at: new Date(flow.expiresAt).toISOString(),
    },
  };
}
