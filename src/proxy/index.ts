/**
 * Local mail proxies for password-only clients (`proxies:` in the config), run by
 * `tokenwarden serve`: SMTP into the mailbox's outbox, IMAP relayed to the mailbox's server
 * after an upstream login with the connection's token. See docs/integrations.md.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { Clock } from '../core/clock.js';
import { ConfigError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Config, ProxyConfig } from '../config/schema.js';
import type { MailService } from '../mail/service.js';
import { isLoopbackHost } from '../oauth/endpoint-policy.js';
import type { FlowRecord } from '../store/types.js';
import { AuthGate, type AuthGateOptions } from './auth.js';
import { startImapProxy, type ImapUpstreamRoute } from './imap.js';
import { startSmtpProxy } from './smtp.js';
import type { ProxyTls, RunningProxy } from './types.js';

export type { RunningProxy } from './types.js';
export { AuthGate } from './auth.js';

export interface ProxyDeps {
  config: Pick<Config, 'proxies' | 'mailboxes'>;
  mail: MailService | undefined;
  /** The warden's token keeper and flows (for IMAP's upstream login and its refusal message). */
  tokens: {
    accessToken(connection: string): Promise<string>;
    forceRefresh(connection: string): Promise<{ accessToken: string }>;
  };
  openFlows(connection: string): Promise<FlowRecord[]>;
  clock: Clock;
  logger: Logger;
  /** Folder relative TLS file paths resolve against. */
  baseDir: string;
  /** Rate-limit tuning (tests). */
  gate?: Partial<Pick<AuthGateOptions, 'burst' | 'refillMs' | 'penaltyMs'>>;
}

export interface RunningProxies {
  list: RunningProxy[];
  close(): Promise<void>;
}

function parseListen(listen: string): { host: string; port: number } {
  const m = /^\[([0-9a-fA-F:]+)\]:(\d+)$/.exec(listen) ?? /^([^:]+):(\d+)$/.exec(listen);
  if (!m) throw new ConfigError('expected host:port, e.g. 127.0.0.1:2525', { path: 'proxies' });
  return { host: m[1] as string, port: Number(m[2]) };
}

function loadTls(name: string, p: ProxyConfig, baseDir: string): ProxyTls | undefined {
  if (!p.tls) return undefined;
  const file = (f: string, key: string): Buffer => {
    try {
      return readFileSync(isAbsolute(f) ? f : resolve(baseDir, f));
    } catch (e) {
      throw new ConfigError(`cannot read ${f}: ${(e as Error).message}`, { path: `proxies.${name}.tls.${key}` });
    }
  };
  return { mode: p.tls.mode, cert: file(p.tls.cert, 'cert'), key: file(p.tls.key, 'key') };
}

/** Start every configured proxy; if one cannot start, the ones already started are stopped and the error thrown. */
/** The mailbox's IMAP read routes, each with a unique id (`imap:<host>`, `imap:<host>#2`, …). */
function imapRoutes(mbCfg: Config['mailboxes'][string]): ImapUpstreamRoute[] {
  const seen = new Set<string>();
  return mbCfg.read.flatMap((r) => {
    if (!('imap' in r)) return [];
    const s = r.imap;
    let id = `imap:${s.host}`;
    for (let i = 2; seen.has(id); i++) id = `imap:${s.host}#${i}`;
    seen.add(id);
    return [
      {
        id,
        host: s.host,
        port: s.port,
        secure: s.secure,
        starttls: s.starttls,
        tlsRejectUnauthorized: s.tls_reject_unauthorized,
        user: s.user,
        password: s.password,
        connection: s.connection,
      },
    ];
  });
}

/** One configured proxy, listening: plaintext logins only on loopback, TLS elsewhere. */
async function startProxy(deps: ProxyDeps, name: string, p: ProxyConfig): Promise<RunningProxy> {
  const { host, port } = parseListen(p.listen);
  const loopback = isLoopbackHost(host);
  const tls = loadTls(name, p, deps.baseDir);
  if (!loopback && !tls)
    throw new ConfigError(`refusing plaintext logins on ${host}: set tls (cert and key)`, {
      path: `proxies.${name}.listen`,
    });
  const mbCfg = deps.config.mailboxes[p.mailbox];
  if (!mbCfg) throw new ConfigError(`unknown mailbox "${p.mailbox}"`, { path: `proxies.${name}.mailbox` });
  const gate = new AuthGate({ password: p.password, username: p.username, clock: deps.clock, ...deps.gate });
  if (p.protocol === 'smtp') {
    if (!deps.mail) throw new ConfigError('the mail service is not running', { path: `proxies.${name}` });
    return startSmtpProxy({
      name,
      host,
      port,
      mailbox: deps.mail.mailbox(p.mailbox),
      maxBytes: mbCfg.max_message_bytes,
      gate,
      loopback,
      tls,
      logger: deps.logger,
    });
  }
  return startImapProxy({
    name,
    host,
    port,
    mailboxName: p.mailbox,
    routes: imapRoutes(mbCfg),
    gate,
    tls,
    logger: deps.logger,
    deps: {
      accessToken: (c) => deps.tokens.accessToken(c),
      forceRefresh: async (c) => (await deps.tokens.forceRefresh(c)).accessToken,
      openFlow: async (c) => (await deps.openFlows(c))[0] ?? null,
    },
  });
}

export async function startProxies(deps: ProxyDeps): Promise<RunningProxies> {
  const list: RunningProxy[] = [];
  const close = async (): Promise<void> => {
    await Promise.allSettled(list.map((p) => p.close()));
  };
  try {
    for (const [name, p] of Object.entries(deps.config.proxies)) {
      const started = await startProxy(deps, name, p);
      list.push(started);
      deps.logger.info('mail proxy listening', {
        proxy: name,
        protocol: p.protocol,
        mailbox: p.mailbox,
        address: `${started.host}:${started.port}`,
      });
    }
  } catch (e) {
    await close();
    throw e;
  }
  return { list, close };
}
