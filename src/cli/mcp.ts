/**
 * `tokenwarden mcp`: the MCP server on stdio. stdout carries only the protocol; anything for a
 * human (console channel messages) goes to stderr. Runs until the client closes stdin or the
 * process is told to stop, then closes the warden.
 */
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { wardenOptions, type Io } from './output.js';
import { openWarden } from '../warden.js';
import { createMcpServer } from '../mcp/server.js';

export async function runMcp(o: { config?: string }, io: Io): Promise<number> {
  const warden = await openWarden(wardenOptions(o, io));
  const server = createMcpServer(warden);
  const transport = new StdioServerTransport();
  const closed = new Promise<void>((resolve) => {
    const done = (): void => {
      process.off('SIGTERM', done);
      process.off('SIGINT', done);
      resolve();
    };
    transport.onclose = done;
    process.stdin.once('end', done);
    process.once('SIGTERM', done);
    process.once('SIGINT', done);
  });
  try {
    await server.connect(transport);
    await closed;
  } finally {
    await server.close().catch(() => undefined);
    await warden.close();
  }
  return 0;
}
