/**
 * `tokenwarden mcp` end to end: an MCP client from the official SDK spawns the built CLI on
 * stdio, lists the tools and calls each one against real peers (oidc-provider, a Gmail API
 * fake verifying tokens by introspection, an SMTP server taking an App Password) — while the
 * connection is healthy, while it awaits re-authorization, and after the human answered.
 * No tool output ever carries a token.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReauthRequiredError } from '../../src/core/errors.js';
import { openWarden, partsOf } from '../../src/warden.js';
import { CLI, makeWorkspace, type Workspace } from '../helpers/workspace.js';
import { startGmailFake, type GmailFake } from '../peers/gmail-fake.js';
import { startOidcProvider, type OidcPeer } from '../peers/oidc-provider.js';
import { startSmtpPeer, type SmtpPeer } from '../peers/smtp.js';

const REDIRECT = 'http://127.0.0.1:1/oauth/callback';
const APP_PASSWORD = 'app-password-mcp-123';
let peer: OidcPeer;
let gmail: GmailFake;
let smtp: SmtpPeer;
let ws: Workspace;
let client: Client;
let transport: StdioClientTransport;
let stderr = '';
const stderrWaiters: Array<() => void> = [];
/** Every secret the store held at some point: none may appear in any tool result or resource. */
const secrets = new Set<string>([APP_PASSWORD]);
/** Every tool result and resource read, as JSON. */
const outputs: string[] = [];

async function rememberSecrets(): Promise<void> {
  const w = await openWarden({ configPath: ws.configPath });
  try {
    const row = await partsOf(w).store.getConnection('gmail');
    for (const s of [row?.accessToken, row?.refreshToken, row?.idToken]) if (s) secrets.add(s);
  } finally {
    await w.close();
  }
}

async function call(
  name: string,
  args: Record<string, unknown> = {},
): Promise<CallToolResult & { text: string; data: Record<string, unknown> }> {
  const r = (await client.callTool({ name, arguments: args })) as CallToolResult;
  outputs.push(JSON.stringify(r));
  const text = r.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n');
  return { ...r, text, data: (r.structuredContent ?? {}) as Record<string, unknown> };
}

function stderrContains(s: string, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`MCP server stderr never contained "${s}":\n${stderr}`)), timeoutMs);
    const check = (): void => {
      if (!stderr.includes(s)) return;
      clearTimeout(t);
      resolve();
    };
    stderrWaiters.push(check);
    check();
  });
}

beforeAll(async () => {
  peer = await startOidcProvider({ redirectUris: [REDIRECT], accessTokenTtl: 600, refreshTokenTtl: 3600 });
  gmail = await startGmailFake({
    verifyToken: async (t) => (await peer.introspect(t)).active,
    address: 'agent@example.com',
    scopes: ['https://www.googleapis.com/auth/gmail.readonly', 'https://www.googleapis.com/auth/gmail.send'],
  });
  smtp = await startSmtpPeer({ passwords: { 'agent@example.com': APP_PASSWORD } });
  ws = makeWorkspace({
    channels: { ops: { type: 'console' } },
    connections: {
      gmail: {
        provider: 'oidc',
        issuer: peer.issuer,
        client_id: peer.clientId,
        client_secret: peer.clientSecret,
        redirect_uri: REDIRECT,
        scopes: ['openid', 'offline_access', 'email'],
        flow: 'auth_code',
        notify: ['ops'],
      },
    },
    mailboxes: {
      agent: {
        address: 'agent@example.com',
        send: [
          { gmail: { connection: 'gmail', api_base: gmail.url } },
          {
            smtp: {
              host: smtp.host,
              port: smtp.port,
              secure: false,
              user: 'agent@example.com',
              password: APP_PASSWORD,
            },
          },
        ],
        read: [{ gmail: { connection: 'gmail', api_base: gmail.url } }],
      },
    },
  });
  // The first authorization, as `tokenwarden connect` + a human's paste would do it.
  const w = await openWarden({ configPath: ws.configPath });
  try {
    const flow = await partsOf(w).flows.open('gmail');
    await partsOf(w).flows.completeFromInput(await peer.approveAuthorization(flow.url), { via: 'test' });
  } finally {
    await w.close();
  }
  await rememberSecrets();

  transport = new StdioClientTransport({
    command: process.execPath,
    args: [CLI, '--config', ws.configPath, 'mcp'],
    cwd: ws.dir,
    stderr: 'pipe',
  });
  transport.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
    for (const w of [...stderrWaiters]) w();
  });
  client = new Client({ name: 'tokenwarden-test', version: '1.0.0' });
  await client.connect(transport);
}, 60_000);

afterAll(async () => {
  await client?.close();
  await smtp?.stop();
  await gmail?.stop();
  await peer?.stop();
  ws?.cleanup();
});

describe('tokenwarden mcp', () => {
  it('lists the tools and the status resources', async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual([
      'api_request',
      'credential_status',
      'read_email',
      'request_reauthorization',
      'send_email',
    ]);
    expect(tools.every((t) => (t.description ?? '').length > 40)).toBe(true);
    const { resources } = await client.listResources();
    expect(resources.map((r) => r.uri)).toEqual(
      expect.arrayContaining(['tokenwarden://status', 'tokenwarden://connections/gmail']),
    );
  });

  it('while healthy: status in words, mail sent and read through the Gmail route', async () => {
    const st = await call('credential_status');
    expect(st.isError).toBeFalsy();
    expect(st.text).toMatch(
      /^gmail \(OpenID Connect.*\) is healthy: the current access token is valid until \d\d:\d\d UTC/,
    );
    const conn = (st.data['connections'] as Array<Record<string, unknown>>)[0];
    expect(conn).toMatchObject({ name: 'gmail', state: 'healthy', serving: true, asked: null, cause: null });

    const sent = await call('send_email', { to: 'bob@example.org', subject: 'hello from the agent', text: 'hi' });
    expect(sent.isError).toBeFalsy();
    expect(sent.text).toMatch(/^Sent from mailbox agent through gmail:gmail \(OAuth via gmail\)\. Message-ID </);
    expect(sent.data).toMatchObject({ status: 'sent', route: 'gmail:gmail', fallback_from: [] });
    expect(gmail.sent).toHaveLength(1);

    gmail.seed({ from: 'carol@example.org', to: 'agent@example.com', subject: 'quarterly numbers', date: new Date() });
    const read = await call('read_email', { since: '1d' });
    expect(read.isError).toBeFalsy();
    expect(read.text).toMatch(/^1 message in mailbox agent, read through gmail:gmail\./);
    expect(read.text).toContain('from carol@example.org: quarterly numbers');
    expect(read.data).toMatchObject({
      route: 'gmail:gmail',
      messages: [expect.objectContaining({ subject: 'quarterly numbers' })],
    });

    const healthy = await call('request_reauthorization', { connection: 'gmail' });
    expect(healthy.text).toMatch(/gmail is healthy; no re-authorization is needed/);
    expect(stderr).not.toContain('reauth request');
  });

  it('after the grant is revoked: the cause, nobody asked yet, and what still works', async () => {
    await peer.revokeGrantsFor();
    const w = await openWarden({ configPath: ws.configPath });
    try {
      // The provider's definitive answer (invalid_grant) moves the connection to reauth_required.
      await expect(partsOf(w).keeper.forceRefresh('gmail')).rejects.toBeInstanceOf(ReauthRequiredError);
    } finally {
      await w.close();
    }
    const st = await call('credential_status', { connection: 'gmail' });
    expect(st.text).toMatch(/gmail \(.*\) needs re-authorization since \d\d:\d\d UTC\. Cause: .+ Fix: .+/);
    expect(st.text).toContain(
      'Nobody has been asked yet. Call request_reauthorization to send the human a link (configured: console channel "ops").',
    );
    expect(st.text).toContain(
      'Still works: sending mail from mailbox agent through smtp:127.0.0.1 (App Password) as a fallback.',
    );
    expect(st.text).toContain(
      'Unavailable until gmail is re-authorized: reading mail from mailbox agent (no other read route works).',
    );
    const conn = (st.data['connections'] as Array<Record<string, unknown>>)[0];
    expect(conn).toMatchObject({
      state: 'reauth_required',
      serving: false,
      asked: null,
      cause: expect.objectContaining({ id: expect.any(String) }),
    });
  });

  it('request_reauthorization asks the human once, via the configured channel, and says so', async () => {
    const r = await call('request_reauthorization', { connection: 'gmail' });
    expect(r.isError).toBeFalsy();
    expect(r.text).toMatch(/^Asked the human to re-authorize gmail via console channel "ops" at \d\d:\d\d UTC\./);
    expect(r.text).toMatch(/paste the address the browser ends on/);
    expect(r.data).toMatchObject({
      connection: 'gmail',
      kind: 'auth_code',
      asked_via: ['ops'],
      asked_now: ['ops'],
      reused: false,
    });
    expect(String(r.data['link'])).toMatch(new RegExp(`^${peer.issuer}/auth\\?`));
    await stderrContains('[tokenwarden] reauth request · gmail');
    expect(stderr).toContain(String(r.data['link']));

    const again = await call('request_reauthorization', { connection: 'gmail' });
    expect(again.text).toMatch(
      /The human was already asked via console channel "ops" at \d\d:\d\d UTC; not asking again\./,
    );
    expect(again.data).toMatchObject({ flow_id: r.data['flow_id'], asked_now: [], reused: true });
    expect(stderr.match(/reauth request · gmail/g)).toHaveLength(1);
  });

  it('while awaiting the human: the status sentence names the wait, the channel and the fallback; mail fails over', async () => {
    const st = await call('credential_status', { connection: 'gmail' });
    expect(st.text).toMatch(/gmail \(.*\) is waiting for re-authorization since \d\d:\d\d UTC\./);
    expect(st.text).toMatch(
      /The human was asked via console channel "ops" at \d\d:\d\d UTC \(just now\); the link expires at \d\d:\d\d UTC\./,
    );
    expect(st.text).toContain(
      'Still works: sending mail from mailbox agent through smtp:127.0.0.1 (App Password) as a fallback.',
    );
    const conn = (st.data['connections'] as Array<Record<string, unknown>>)[0];
    expect(conn).toMatchObject({ state: 'awaiting_human', asked: expect.objectContaining({ via: ['ops'] }) });

    const sent = await call('send_email', { to: 'bob@example.org', subject: 'still works', text: 'via the fallback' });
    expect(sent.isError).toBeFalsy();
    expect(sent.text).toMatch(
      /^Sent from mailbox agent through smtp:127\.0\.0\.1 \(App Password\), as a fallback because gmail:gmail: connection gmail is awaiting_human\./,
    );
    expect(sent.data).toMatchObject({ status: 'sent', route: 'smtp:127.0.0.1', fallback_from: ['gmail:gmail'] });
    expect(smtp.countByMessageId(String(sent.data['message_id']))).toBe(1);
    expect(gmail.sent).toHaveLength(1);

    const read = await call('read_email', {});
    expect(read.isError).toBe(true);
    expect(read.text).toMatch(
      /^Cannot read mailbox agent right now: no read route works\. gmail \(.*\) is waiting for re-authorization/,
    );
    expect(read.text).not.toMatch(/\n\s+at /); // no stack trace

    const res = await client.readResource({ uri: 'tokenwarden://connections/gmail' });
    outputs.push(JSON.stringify(res));
    const first = res.contents[0] as { text: string };
    expect(JSON.parse(first.text)).toMatchObject({
      name: 'gmail',
      state: 'awaiting_human',
      still_works: [expect.stringContaining('App Password')],
    });
  });

  it('after the human pastes: healthy again, and mail goes back through Gmail', async () => {
    const w = await openWarden({ configPath: ws.configPath });
    try {
      const flow = (await w.status()).find((s) => s.name === 'gmail')?.openFlow;
      expect(flow).toBeTruthy();
      await partsOf(w).flows.completeFromInput(await peer.approveAuthorization(flow?.url ?? ''), { via: 'test' });
    } finally {
      await w.close();
    }
    await rememberSecrets();
    const st = await call('credential_status');
    expect(st.text).toMatch(/^gmail \(.*\) is healthy/);
    const sent = await call('send_email', { to: 'bob@example.org', subject: 'back on gmail', text: 'ok' });
    expect(sent.text).toMatch(/^Sent from mailbox agent through gmail:gmail \(OAuth via gmail\)\./);
    expect(gmail.sent).toHaveLength(2);
    const res = await client.readResource({ uri: 'tokenwarden://status' });
    outputs.push(JSON.stringify(res));
    expect(JSON.parse((res.contents[0] as { text: string }).text)).toMatchObject({
      connections: [expect.objectContaining({ state: 'healthy' })],
    });
  });

  it('never hands a token (or the App Password) to the model', () => {
    expect(outputs.length).toBeGreaterThan(10);
    expect(secrets.size).toBeGreaterThan(3);
    for (const out of outputs) for (const s of secrets) expect(out.includes(s)).toBe(false);
  });
});
