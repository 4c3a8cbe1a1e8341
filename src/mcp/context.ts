/**
 * What every MCP tool and resource works with: the open warden, the clock, the send policy and
 * the status facts of connections (the one status view plus what still works). Built once per
 * server by {@link mcpContext}.
 */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { ReauthAsker } from '../actions/request-reauth.js';
import { unknownConnection } from '../actions/get-token.js';
import type { ConnectionState } from '../core/types.js';
import { grantDied } from '../core/types.js';
import { TokenwardenError } from '../core/errors.js';
import { createOrchestrator } from '../reauth/orchestrator.js';
import { partsOf, type Warden, type WardenParts } from '../warden.js';
import { answer, type ToolBody } from './answer.js';
import { describeConnection, routeFacts, type AgentConnectionView, type RouteFact } from './describe.js';
import { parseSendRate, SendLimiter, type SendRate } from './send-policy.js';

export interface McpContext {
  warden: Warden;
  parts: WardenParts;
  now(): number;
  mailboxNames: string[];
  sendRate: SendRate;
  sendLimiter: SendLimiter;
  allowedRecipients: string[] | undefined;
  /** Status facts of every (or one) connection, with what still works through mail routes. */
  facts(only?: string): Promise<AgentConnectionView[]>;
  mailRoutes(states: ReadonlyMap<string, ConnectionState>): Promise<RouteFact[]>;
  /** Run a tool body after catching up with other processes; errors become answers in words. */
  run(fn: ToolBody): Promise<CallToolResult>;
  /** The mailbox named, or the only one configured. */
  pickMailbox(name: string | undefined): string;
  /** Who asks the human: an orchestrator of this process (no long-lived channels), made on first use. */
  asker(): ReauthAsker;
}

export function mcpContext(warden: Warden): McpContext {
  const parts = partsOf(warden);
  const now = (): number => parts.deps.clock.now();
  const mcpConfig = warden.config.mcp ?? { send_rate: '20/min' };
  const sendRate = parseSendRate(mcpConfig.send_rate) ?? { count: 20, windowMs: 60_000 };
  let asker: ReauthAsker | undefined;
  const ctx: McpContext = {
    warden,
    parts,
    now,
    mailboxNames: Object.keys(warden.config.mailboxes),
    sendRate,
    sendLimiter: new SendLimiter(sendRate, now),
    allowedRecipients: mcpConfig.allowed_recipients,
    facts: (only) => facts(ctx, only),
    mailRoutes: (states) => mailRoutes(ctx, states),
    run: (fn) => answer(async () => (await adoptOtherProcesses(parts), fn()), ctx.facts),
    pickMailbox: (name) => pickMailbox(ctx.mailboxNames, name),
    asker: () => (asker ??= startAsker(warden, parts)),
  };
  return ctx;
}

function startAsker(warden: Warden, parts: WardenParts): ReauthAsker {
  const orchestrator = createOrchestrator(parts, { channels: new Map() });
  warden.onClose(() => orchestrator.stop());
  return orchestrator;
}

async function facts(ctx: McpContext, only?: string): Promise<AgentConnectionView[]> {
  const { warden, now, mailRoutes } = ctx;
  const all = await warden.status();
  const list = only ? all.filter((s) => s.name === only) : all;
  if (only && !list.length) throw unknownConnection(new Map(all.map((s) => [s.name, s])), only);
  const states = new Map<string, ConnectionState>(all.map((s) => [s.name, s.state]));
  const routes = await mailRoutes(states);
  return Promise.all(
    list.map(async (s) => {
      const deadSince = grantDied(s.state)
        ? ((await ctx.parts.store.listEvents({ connection: s.name, newestFirst: true, limit: 50 })).find(
            (e) => e.type === 'reauth_required',
          )?.at ?? null)
        : null;
      return describeConnection(s, {
        now: now(),
        displayName: ctx.parts.connections.get(s.name)?.profile.displayName ?? s.provider,
        routes,
        deadSince,
        notify: warden.config.connections[s.name]?.notify ?? [],
        channels: warden.config.channels,
      });
    }),
  );
}

async function mailRoutes(ctx: McpContext, states: ReadonlyMap<string, ConnectionState>): Promise<RouteFact[]> {
  if (!ctx.mailboxNames.length) return [];
  const health = (await (await ctx.warden.mail()).status()).flatMap((m) => m.routes);
  return routeFacts(ctx.warden.config, health, states);
}

/**
 * This process is rarely the only one using the store (a daemon refreshes, a human's paste is
 * exchanged elsewhere): before each tool call the store's change feed catches up (SQLite: one
 * `PRAGMA data_version` when nothing changed), so the keeper drops the cached token of every
 * connection another process changed and the next use reads the store's current row. (It read
 * and decrypted every row per call before: seconds at 100,000 connections.)
 */
async function adoptOtherProcesses(parts: WardenParts): Promise<void> {
  await parts.store.catchUpChanges?.();
}

function pickMailbox(mailboxNames: string[], name: string | undefined): string {
  if (name) return name;
  if (mailboxNames.length === 1) return mailboxNames[0] as string;
  throw new TokenwardenError(
    'TW_BAD_INPUT',
    mailboxNames.length
      ? `Say which mailbox: ${mailboxNames.join(', ')}.`
      : 'No mailboxes are configured in tokenwarden.yaml.',
  );
}
