/** MCP resources: `tokenwarden://status` and `tokenwarden://connections/{name}` (the agent view as JSON). */
import { ResourceTemplate, type McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { redact } from '../core/logger.js';
import type { McpContext } from './context.js';

/** The status resources. */
export function registerResources(server: McpServer, ctx: McpContext): void {
  const { facts, parts } = ctx;
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
        resources: [...parts.connections.keys()].map((n) => ({
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
}
