/**
 * The Model Context Protocol server (`tokenwarden mcp`): lets an agent ask "can I send mail
 * now, and if not, what is being done?" and get an answer in words plus structured content.
 *
 * Tools: `credential_status`, `request_reauthorization`, `send_email`, `read_email`, `api_request`.
 * Resources: `tokenwarden://status` and `tokenwarden://connections/{name}`.
 *
 * Rules: access and refresh tokens are never handed to the model (no tool returns one, and
 * every text passes through `redact`); a dead credential is an answer the agent can act on
 * (cause, who was asked, what still works), never a stack trace. Every tool calls an action
 * (src/actions/) and only renders (docs/architecture.md, "Actions").
 *
 * @see https://modelcontextprotocol.io/specification/2025-06-18/server/tools
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { Warden } from '../warden.js';
import { apiRequest, apiRequestInput } from './api-request.js';
import { mcpContext, type McpContext } from './context.js';
import { registerReauthTool, registerStatusTool } from './credential-tools.js';
import { registerReadTool, registerSendTool } from './mail-tools.js';
import { registerResources } from './resources.js';

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
  const ctx = mcpContext(warden);
  registerStatusTool(server, ctx);
  registerReauthTool(server, ctx);
  registerSendTool(server, ctx);
  registerReadTool(server, ctx);
  registerApiRequestTool(server, ctx);
  registerResources(server, ctx);
  return server;
}

/** `api_request`: a provider API call with the token injected (src/mcp/api-request.ts). */
function registerApiRequestTool(server: McpServer, ctx: McpContext): void {
  const { run, warden } = ctx;
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
}
