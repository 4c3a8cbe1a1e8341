/**
 * MCP's `request_reauthorization` asks through the one request-reauth action (the re-auth
 * orchestrator): requests for a connection are serialised, so two agents asking at once open
 * one flow and the human gets one message, and a later ask says the human was already asked.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMcpServer } from '../../src/mcp/server.js';
import { openWarden, partsOf, type Warden } from '../../src/warden.js';

let dir: string;
let hook: Server;
const received: unknown[] = [];
let warden: Warden;
let client: Client;
let close: () => Promise<void>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tw-mcp-reauth-'));
  hook = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push(JSON.parse(body));
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', () => r()));
  const port = (hook.address() as AddressInfo).port;
  warden = await openWarden({
    config: {
      store: `sqlite:${join(dir, 'state.db')}`,
      key: 'env:TW_KEY',
      channels: { hook: { type: 'webhook', url: `http://127.0.0.1:${port}/hook` } },
      connections: {
        mail: {
          provider: 'oauth2',
          client_id: 'cid',
          client_secret: 'csecret',
          redirect_uri: 'http://127.0.0.1:1/oauth/callback',
          auth_url: 'http://127.0.0.1:1/auth',
          token_url: 'http://127.0.0.1:1/token',
          flow: 'auth_code',
          scopes: ['mail'],
          notify: ['hook'],
        },
      },
    },
    baseDir: dir,
    env: { TW_KEY: randomBytes(32).toString('base64') },
  });
  const server = createMcpServer(warden);
  const [a, b] = InMemoryTransport.createLinkedPair();
  client = new Client({ name: 'mcp-reauth', version: '1' });
  await Promise.all([server.connect(a), client.connect(b)]);
  close = async () => {
    await client.close();
    await server.close();
  };
});

afterAll(async () => {
  await close?.();
  await warden?.close();
  await new Promise<void>((r) => hook?.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

const ask = async (): Promise<Record<string, unknown>> => {
  const r = (await client.callTool({
    name: 'request_reauthorization',
    arguments: { connection: 'mail' },
  })) as CallToolResult;
  expect(r.isError).not.toBe(true);
  return r.structuredContent as Record<string, unknown>;
};

describe('request_reauthorization', () => {
  it('two agents asking at once: one flow, one message to the human', async () => {
    const [first, second] = await Promise.all([ask(), ask()]);
    expect(received).toHaveLength(1);
    expect(first?.['flow_id']).toBe(second?.['flow_id']);
    expect([first?.['asked_now'], second?.['asked_now']]).toEqual(expect.arrayContaining([['hook'], []]));
    const open = await partsOf(warden).store.listOpenFlows('mail');
    expect(open).toHaveLength(1);
    expect(open[0]?.askedVia).toEqual(['hook']);
  });

  it('asking again later reuses the flow and does not message the human again', async () => {
    const again = await ask();
    expect(again['reused']).toBe(true);
    expect(again['asked_now']).toEqual([]);
    expect(received).toHaveLength(1);
  });
});
