/**
 * The demo sandbox: a workspace (SQLite store, key, config) in a folder, a local OAuth provider,
 * a local SMTP catcher and the daemon (HTTP API, dashboard, scheduler, console channel), all on
 * 127.0.0.1 ephemeral ports. {@link startSandbox} starts them in dependency order and
 * `stop()` stops them in reverse.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { dump } from 'js-yaml';
import type { Logger } from '../core/logger.js';
import { writeKeyFile } from '../store/key.js';
import { startDaemon, type Daemon } from '../daemon.js';
import { startOidcSandbox, type OidcSandbox } from './oidc-sandbox.js';
import { startSmtpCatcher, type SmtpCatcher } from './smtp-catcher.js';

export const DEMO_CONNECTION = 'sandbox';
export const DEMO_MAILBOX = 'agent';
export const DEMO_ADDRESS = 'agent@sandbox.test';

export interface Sandbox {
  dir: string;
  configPath: string;
  apiKey: string;
  provider: OidcSandbox;
  smtp: SmtpCatcher;
  daemon: Daemon;
  /** Send-route ids of the demo mailbox: the OAuth (XOAUTH2) route, then the App Password route. */
  routes: { oauth: string; appPassword: string };
  stop(): Promise<void>;
}

export interface SandboxOptions {
  /** Keep state here (created if missing, kept afterwards); default a temp folder removed on stop. */
  dir?: string;
  logger?: Logger;
  /** Access-token lifetime at the sandbox provider, in seconds (default 4). */
  accessTokenTtl?: number;
}

/** A free 127.0.0.1 port for the daemon: the provider must know the redirect URI before the daemon listens. */
async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((res, rej) => {
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => res());
  });
  const addr = srv.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  await new Promise<void>((res) => srv.close(() => res()));
  return port;
}

export async function startSandbox(opts: SandboxOptions = {}): Promise<Sandbox> {
  const keep = opts.dir !== undefined;
  const dir = keep ? resolve(opts.dir as string) : mkdtempSync(join(tmpdir(), 'tokenwarden-demo-'));
  const cleanups: Array<() => Promise<void> | void> = [];
  if (!keep) cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const unwind = async (): Promise<void> => {
    for (const fn of cleanups.splice(0).reverse()) await Promise.resolve(fn()).catch(() => undefined);
  };
  try {
    mkdirSync(dir, { recursive: true });
    const port = await freePort();
    const callback = `http://127.0.0.1:${port}/oauth/callback`;
    const provider = await startOidcSandbox({
      redirectUri: callback,
      ...(opts.accessTokenTtl ? { accessTokenTtl: opts.accessTokenTtl } : {}),
    });
    cleanups.push(() => provider.stop());
    const appPassword = randomBytes(12).toString('base64url');
    const smtp = await startSmtpCatcher({ user: DEMO_ADDRESS, appPassword, verifyToken: (t) => provider.isActive(t) });
    cleanups.push(() => smtp.stop());

    const { configPath, apiKey } = writeSandboxConfig(dir, { port, callback, provider, smtp, appPassword });
    const daemon = await startDaemon({
      configPath,
      ...(opts.logger ? { logger: opts.logger } : {}),
      scheduler: { probeIntervalMs: 0 },
    });
    cleanups.push(() => daemon.close());
    const sendRoutes = (
      (await (await daemon.warden.mail()).status()).find((m) => m.name === DEMO_MAILBOX)?.routes ?? []
    ).filter((r) => r.direction === 'send');
    const oauth = sendRoutes.find((r) => r.connection !== null)?.route ?? '?';
    const appPw = sendRoutes.find((r) => r.connection === null)?.route ?? '?';
    return {
      dir,
      configPath,
      apiKey,
      provider,
      smtp,
      daemon,
      routes: { oauth, appPassword: appPw },
      stop: unwind,
    };
  } catch (err) {
    await unwind();
    throw err;
  }
}

/**
 * The sandbox's tokenwarden.yaml, a fresh key and API key (the state of an earlier run in a kept
 * folder is replaced): one OIDC connection at the local provider, a console channel, and a
 * mailbox whose OAuth route falls back to the App Password.
 */
function writeSandboxConfig(
  dir: string,
  p: {
    port: number;
    callback: string;
    provider: OidcSandbox;
    smtp: SmtpCatcher;
    appPassword: string;
  },
): { configPath: string; apiKey: string } {
  const { port, callback, provider, smtp, appPassword } = p;
  for (const f of ['state.db', 'state.db-wal', 'state.db-shm', 'key', 'api-key']) rmSync(join(dir, f), { force: true });
  writeKeyFile(join(dir, 'key'));
  const apiKey = randomBytes(24).toString('base64url');
  writeFileSync(join(dir, 'api-key'), apiKey + '\n', { mode: 0o600 });
  const smtpBase = { host: smtp.host, port: smtp.port, secure: false, user: DEMO_ADDRESS };
  const config = {
    store: 'sqlite:state.db',
    key: 'file:key',
    server: { listen: `127.0.0.1:${port}`, public_url: `http://127.0.0.1:${port}`, api_key_file: 'api-key' },
    channels: { human: { type: 'console' } },
    connections: {
      [DEMO_CONNECTION]: {
        provider: 'oidc',
        issuer: provider.issuer,
        client_id: provider.clientId,
        client_secret: provider.clientSecret,
        redirect_uri: callback,
        scopes: ['openid', 'offline_access', 'email'],
        flow: 'auth_code',
        notify: ['human'],
      },
    },
    mailboxes: {
      [DEMO_MAILBOX]: {
        address: DEMO_ADDRESS,
        // First the OAuth route (XOAUTH2 with the connection's token), then the App Password.
        send: [
          { smtp: { ...smtpBase, connection: DEMO_CONNECTION } },
          { smtp: { ...smtpBase, password: appPassword } },
        ],
      },
    },
  };
  const configPath = join(dir, 'tokenwarden.yaml');
  writeFileSync(
    configPath,
    `# tokenwarden demo sandbox (generated; ports change every run)\n${dump(config, { lineWidth: -1, noRefs: true })}`,
    {
      mode: 0o600,
    },
  );
  return { configPath, apiKey };
}
