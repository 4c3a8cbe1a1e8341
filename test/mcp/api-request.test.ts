/**
 * MCP tool `api_request` end to end: the official SDK client spawns the built CLI (`tokenwarden
 * mcp`) and calls a Gmail API fake that accepts only bearers the oidc-provider peer introspects
 * as active, under the connection's `api_proxy` allow-list. No result carries a token.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openWarden, partsOf } from '../../src/warden.js';
import { CLI, makeWorkspace, type Workspace } from '../helpers/workspace.js';
import { sandboxConnection } from '../helpers/sandbox.js';
import { startGmailFake, type GmailFake } from '../peers/gmail-fake.js';
import { listenHttp, sendJson } from '../peers/http-fake.js';
import { startOidcProvider, type OidcPeer } from '../peers/oidc-provider.js';

const REDIRECT = 'http://127.0.0.1:1/oauth/callback';
let peer: OidcPeer;
let gmail: GmailFake;
let ws: Workspace;
let client: Client;
let echo: { url: string; stop(): Promise<void> };
const ECHO_SECRET = 'static-echo-secret-0123456789';
const secrets = new Set<string>();
const outputs: string[] = [];

async function stored(): Promise<string> {
  const w = await openWarden({ configPath: ws.configPath });
  try {
    const row = await partsOf(w).store.getConnection('gmail');
    for (const s of [row?.accessToken, row?.refreshToken, row?.idToken]) if (s) secrets.add(s);
    return row?.accessToken ?? '';
  } finally {
    await w.close();
  }
}

async function call(
  args: Record<string, unknown>,
): Promise<CallToolResult & { text: string; data: Record<string, unknown> }> {
  const r = (await client.callTool({ name: 'api_request', arguments: args })) as CallToolResult;
  outputs.push(JSON.stringify(r));
  const text = r.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n');
  return { ...r, text, data: (r.structuredContent ?? {}) as Record<string, unknown> };
}

beforeAll(async () => {
  peer = await startOidcProvider({ redirectUris: [REDIRECT], accessTokenTtl: 600, refreshTokenTtl: 3600 });
  gmail = await startGmailFake({
    verifyToken: async (t) => (await peer.introspect(t)).active,
    scopes: ['https://www.googleapis.com/auth/gmail.readonly'],
  });
  // An API that echoes the request headers back, the bearer included.
  echo = await listenHttp(async (req, res) => sendJson(res, 200, { headers: req.headers }));
  secrets.add(ECHO_SECRET);
  gmail.seed({ from: 'bob@example.org', to: 'agent@example.com', subject: 'hello proxy', date: new Date() });
  ws = makeWorkspace({
    connections: {
      gmail: sandboxConnection(peer, REDIRECT, {
        api_base: gmail.url,
        api_proxy: { paths: ['/gmail/v1/users/me/messages'] },
      }),
      closed: sandboxConnection(peer, REDIRECT, { api_base: gmail.url }),
      echo: {
        provider: 'oauth2',
        kind: 'static',
        secret: ECHO_SECRET,
        api_base: echo.url,
        api_proxy: { paths: ['/echo'] },
      },
    },
  });
  const w = await openWarden({ configPath: ws.configPath });
  try {
    const flow = await partsOf(w).flows.open('gmail');
    await partsOf(w).flows.completeFromInput(await peer.approveAuthorization(flow.url), { via: 'test' });
  } finally {
    await w.close();
  }
  await stored();
  client = new Client({ name: 'tokenwarden-test', version: '1.0.0' });
  await client.connect(
    new StdioClientTransport({
      command: process.execPath,
      args: [CLI, '--config', ws.configPath, 'mcp'],
      cwd: ws.dir,
      stderr: 'pipe',
    }),
  );
}, 60_000);

afterAll(async () => {
  await client?.close();
  await gmail?.stop();
  await echo?.stop();
  await peer?.stop();
  ws?.cleanup();
});

describe('MCP api_request', () => {
  it('calls the API with the token injected and returns status and body', async () => {
    const r = await call({ connection: 'gmail', path: '/gmail/v1/users/me/messages?maxResults=5' });
    expect(r.isError).toBeFalsy();
    expect(r.data['status']).toBe(200);
    const body = JSON.parse(String(r.data['body'])) as { messages: Array<{ id: string }> };
    expect(body.messages).toHaveLength(1);
    expect(gmail.requests.at(-1)).toEqual({ method: 'GET', path: '/gmail/v1/users/me/messages' });
  });

  it('a 401 from the API is answered by one refresh and a retry', async () => {
    const old = await stored();
    const refreshes = peer.tokenRequests('refresh_token');
    gmail.force('401', 1);
    const r = await call({ connection: 'gmail', path: '/gmail/v1/users/me/messages' });
    expect(r.data['status']).toBe(200);
    expect(peer.tokenRequests('refresh_token')).toBe(refreshes + 1);
    expect(await stored()).not.toBe(old);
  });

  it('the allow-list holds: other methods, paths, traversal and connections without api_proxy are refused', async () => {
    const before = gmail.requests.length;
    for (const [args, msg] of [
      [{ connection: 'gmail', method: 'POST', path: '/gmail/v1/users/me/messages/send', body: '{}' }, /Method POST/],
      [{ connection: 'gmail', path: '/gmail/v1/users/me/profile' }, /not in this connection's api_proxy.paths/],
      [{ connection: 'gmail', path: '/gmail/v1/users/me/messages/%2e%2e/profile' }, /traversal refused/],
      [{ connection: 'gmail', path: '/gmail/v1/users/me/messages/../profile' }, /traversal refused/],
      [{ connection: 'closed', path: '/gmail/v1/users/me/messages' }, /not enabled for connection "closed"/],
      [{ connection: 'nope', path: '/x' }, /No connection named "nope"/],
    ] as const) {
      const r = await call(args);
      expect(r.isError, JSON.stringify(args)).toBe(true);
      expect(r.text).toMatch(msg);
    }
    expect(gmail.requests.length).toBe(before);
  });

  it('an API echoing the request does not show the token to the model', async () => {
    const r = await call({ connection: 'echo', path: '/echo' });
    expect(r.data['status']).toBe(200);
    const body = JSON.parse(String(r.data['body'])) as { headers: { authorization: string } };
    expect(body.headers.authorization).toBe('Bearer [redacted]');
  });

  it('a dead grant is answered with its cause, not a token', async () => {
    await peer.revokeGrantsFor();
    const w = await openWarden({ configPath: ws.configPath });
    try {
      await partsOf(w).store.updateConnection('gmail', { accessExpiresAt: Date.now() - 1_000 }, { now: Date.now() });
    } finally {
      await w.close();
    }
    const r = await call({ connection: 'gmail', path: '/gmail/v1/users/me/messages' });
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(/Not possible right now/);
    expect((r.data['error'] as { code: string }).code).toBe('TW_REAUTH_REQUIRED');
  });

  it('no result ever carried a token', () => {
    expect(secrets.size).toBeGreaterThan(1);
    const all = outputs.join('\n');
    for (const s of secrets) expect(all).not.toContain(s);
  });
});
