/**
 * `send_email` over MCP is bounded: the recipient cap every face shares, a per-mailbox rate
 * (`mcp.send_rate`) and an optional recipient allow-list (`mcp.allowed_recipients`). A real MCP
 * client spawns the built CLI on stdio; mail goes to a real SMTP server with an App Password.
 * A refused call queues nothing: the SMTP server never sees it.
 */
import { chmodSync } from 'node:fs';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openWarden, partsOf } from '../../src/warden.js';
import { CLI, makeWorkspace, type Workspace } from '../helpers/workspace.js';
import { startSmtpPeer, type SmtpPeer } from '../peers/smtp.js';

const APP_PASSWORD = 'app-password-limits-456';
let smtp: SmtpPeer;
let ws: Workspace;
let client: Client;
let stderr = '';

async function call(args: Record<string, unknown>): Promise<CallToolResult & { text: string }> {
  const r = (await client.callTool({ name: 'send_email', arguments: args })) as CallToolResult;
  return { ...r, text: r.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n') };
}

async function outboxSize(): Promise<number> {
  const w = await openWarden({ configPath: ws.configPath });
  try {
    return (await partsOf(w).store.listMessages({ mailbox: 'agent', limit: 10_000 })).length;
  } finally {
    await w.close();
  }
}

beforeAll(async () => {
  smtp = await startSmtpPeer({ passwords: { 'agent@example.com': APP_PASSWORD } });
  ws = makeWorkspace({
    mailboxes: {
      agent: {
        address: 'agent@example.com',
        send: [
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
      },
    },
    mcp: { send_rate: '3/min', allowed_recipients: ['@example.org', 'boss@partner.net'] },
  });
  chmodSync(ws.configPath, 0o644); // as an editor under umask 022 leaves it
  client = new Client({ name: 'tokenwarden-limits-test', version: '1.0.0' });
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [CLI, '--config', ws.configPath, 'mcp'],
    cwd: ws.dir,
    stderr: 'pipe',
  });
  transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  await client.connect(transport);
}, 60_000);

afterAll(async () => {
  await client?.close();
  await smtp?.stop();
  ws?.cleanup();
});

describe('send_email limits', () => {
  it('warns on stderr (never on the protocol stream) that the config holding the App Password is readable by others', async () => {
    // The tools answer only after the warden opened, so the warning is written by now.
    await client.listTools();
    expect(stderr).toContain(`tokenwarden: warning: config file ${ws.configPath} is accessible by group or others`);
    expect(stderr).toMatch(/it holds secrets written out \(password \(line \d+\)\)/);
    expect(stderr).not.toContain(APP_PASSWORD);
  });

  it('tells the agent its limits in the tool description', async () => {
    const { tools } = await client.listTools();
    const send = tools.find((t) => t.name === 'send_email');
    expect(send?.description).toContain('at most 500 recipients');
    expect(send?.description).toContain('3 message(s) per mailbox per 60 s');
    expect(send?.description).toContain('only to these recipients: @example.org, boss@partner.net');
  });

  it('refuses more recipients than the HTTP API allows (3,001 in one call), queueing nothing', async () => {
    const to = Array.from({ length: 3001 }, (_, i) => `r${i}@example.org`);
    const r = await call({ to, subject: 'mass mailing', text: 'x' });
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(/at most 500 recipients \(to, cc and bcc together\) per message; got 3001/);
    // 501 split over to, cc and bcc is refused too.
    const split = await call({
      to: to.slice(0, 200),
      cc: to.slice(200, 400),
      bcc: to.slice(400, 501),
      subject: 'mass mailing',
      text: 'x',
    });
    expect(split.isError).toBe(true);
    expect(split.text).toMatch(/got 501/);
    expect(smtp.received).toHaveLength(0);
    expect(await outboxSize()).toBe(0);
  });

  it('refuses recipients outside mcp.allowed_recipients, naming them; the refusal does not count against the rate', async () => {
    const r = await call({
      to: 'a@example.org',
      bcc: ['evil@outside.net', 'x@sub.example.org'],
      subject: 's',
      text: 'x',
    });
    expect(r.isError).toBe(true);
    expect(r.text).toContain('evil@outside.net, x@sub.example.org are not among the recipients allowed through MCP');
    expect(r.text).toContain('Nothing was queued.');
    expect(r.structuredContent).toMatchObject({ error: { code: 'TW_BAD_INPUT' } });
    expect(smtp.received).toHaveLength(0);
    expect(await outboxSize()).toBe(0);
  });

  it('sends to allowed recipients up to mcp.send_rate per mailbox, then answers a clear error', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await call({
        to: `team${i}@example.org`,
        cc: 'BOSS@partner.net',
        subject: `report ${i}`,
        text: 'numbers',
      });
      expect(r.isError, r.text).toBeFalsy();
      expect(r.text).toMatch(/^Sent from mailbox agent through smtp/);
    }
    expect(smtp.received).toHaveLength(3);
    const over = await call({ to: 'team9@example.org', subject: 'one too many', text: 'x' });
    expect(over.isError).toBe(true);
    expect(over.text).toMatch(
      /send_email is limited to 3 messages per minute for mailbox agent \(mcp\.send_rate\); the next one is allowed in \d+ s\. Do not retry before then\./,
    );
    expect(over.structuredContent).toMatchObject({ error: { code: 'TW_RATE_LIMITED' } });
    expect(smtp.received).toHaveLength(3);
    expect(await outboxSize()).toBe(3);
  });
});
