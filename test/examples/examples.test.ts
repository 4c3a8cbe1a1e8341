/**
 * The examples run as a reader would run them: `examples/agent-loop.ts` (library: fetch,
 * mailbox, waitUntilReady) and `examples/python-agent.py` (HTTP API: token, 409, reauth, mail
 * send) against real peers — oidc-provider, a Gmail API fake checking tokens by introspection
 * and an SMTP server taking an App Password — healthy, then with the grant revoked.
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import { ReauthRequiredError } from '../../src/core/errors.js';
import { openWarden, partsOf } from '../../src/warden.js';
import { makeWorkspace, type Workspace } from '../helpers/workspace.js';
import { startGmailFake, type GmailFake } from '../peers/gmail-fake.js';
import { startOidcProvider, type OidcPeer } from '../peers/oidc-provider.js';
import { startSmtpPeer, type SmtpPeer } from '../peers/smtp.js';

const ROOT = resolve(import.meta.dirname, '../..');
const REDIRECT = 'http://127.0.0.1:1/oauth/callback';
const API_KEY = 'examples-test-api-key-0123456789';
let peer: OidcPeer;
let gmail: GmailFake;
let smtp: SmtpPeer;
let ws: Workspace;
const tokens = new Set<string>();

interface Child {
  out: () => string;
  err: () => string;
  /** Resolves once stdout contains `s`. */
  seen: (s: string, timeoutMs?: number) => Promise<void>;
  exit: Promise<number | null>;
}

function run(cmd: string, args: string[], env: Record<string, string>): Child {
  const child = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const waiters: Array<() => void> = [];
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    for (const w of [...waiters]) w();
  });
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return {
    out: () => out,
    err: () => err,
    seen: (s, timeoutMs = 30_000) =>
      new Promise((res, rej) => {
        const t = setTimeout(() => rej(new Error(`never printed "${s}"; stdout:\n${out}\nstderr:\n${err}`)), timeoutMs);
        const check = (): void => {
          if (out.includes(s)) {
            clearTimeout(t);
            res();
          }
        };
        waiters.push(check);
        check();
      }),
    exit: new Promise((res) => child.on('close', (code) => res(code))),
  };
}

/** Revoke at the provider, then let a refresh (the daemon's, when one runs) hear the definitive invalid_grant. */
async function killGrant(daemon?: Daemon): Promise<void> {
  await peer.revokeGrantsFor();
  if (daemon) {
    await expect(partsOf(daemon.warden).keeper.forceRefresh('gmail')).rejects.toBeInstanceOf(ReauthRequiredError);
    return;
  }
  const w = await openWarden({ configPath: ws.configPath });
  try {
    await expect(partsOf(w).keeper.forceRefresh('gmail')).rejects.toBeInstanceOf(ReauthRequiredError);
  } finally {
    await w.close();
  }
}

async function authorize(): Promise<void> {
  const w = await openWarden({ configPath: ws.configPath });
  try {
    const flow = await partsOf(w).flows.open('gmail');
    await partsOf(w).flows.completeFromInput(await peer.approveAuthorization(flow.url), { via: 'test' });
    tokens.add(await w.accessToken('gmail'));
  } finally {
    await w.close();
  }
}

beforeAll(async () => {
  peer = await startOidcProvider({ redirectUris: [REDIRECT], accessTokenTtl: 600, refreshTokenTtl: 3600 });
  gmail = await startGmailFake({
    verifyToken: async (t) => (await peer.introspect(t)).active,
    address: 'agent@example.com',
    scopes: ['https://www.googleapis.com/auth/gmail.readonly', 'https://www.googleapis.com/auth/gmail.send'],
  });
  smtp = await startSmtpPeer({ passwords: { 'agent@example.com': 'app-password-ex' } });
  ws = makeWorkspace({
    server: { listen: '127.0.0.1:0', api_key: API_KEY },
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
              password: 'app-password-ex',
            },
          },
        ],
        read: [{ gmail: { connection: 'gmail', api_base: gmail.url } }],
      },
    },
  });
  await authorize();
}, 60_000);

afterAll(async () => {
  await smtp?.stop();
  await gmail?.stop();
  await peer?.stop();
  ws?.cleanup();
});

describe('examples/agent-loop.ts', () => {
  const loop = (turns: number): Child =>
    run(process.execPath, ['--import', 'tsx', 'examples/agent-loop.ts'], {
      TOKENWARDEN_CONFIG: ws.configPath,
      AGENT_API_URL: `${peer.issuer}/me`,
      AGENT_TURNS: String(turns),
      AGENT_WAIT_MS: '30000',
    });

  it('calls the API with the bearer token and reports by mail through Gmail', async () => {
    const c = loop(2);
    expect(await c.exit).toBe(0);
    expect(c.out()).toContain('turn 1: GET /me answered 200; report sent via gmail:gmail');
    expect(c.out()).toContain('turn 2: GET /me answered 200; report sent via gmail:gmail');
    expect(gmail.sent).toHaveLength(2);
  }, 60_000);

  it('with the grant dead: explains, reports through the App Password route, waits for the human, then carries on', async () => {
    await killGrant();
    const c = loop(1);
    await c.seen('waiting for the human…');
    expect(c.out()).toMatch(/turn 1: gmail needs its human: .+/);
    expect(c.out()).toContain('still works: mailbox agent: send via smtp 127.0.0.1 (app password)');
    expect(c.out()).toContain('report sent via smtp:127.0.0.1');
    // The human answers (in another process, as the daemon would capture it).
    await authorize();
    expect(await c.exit).toBe(0);
    expect(c.out()).toContain('gmail is ready again');
    expect(c.out()).toContain('turn 1: GET /me answered 200; report sent via gmail:gmail');
    for (const t of tokens) expect(c.out()).not.toContain(t);
  }, 60_000);
});

describe('examples/python-agent.py against the daemon HTTP API', () => {
  let daemon: Daemon;
  beforeAll(async () => {
    daemon = await startDaemon({ configPath: ws.configPath, listen: '127.0.0.1:0', scheduler: { probeIntervalMs: 0 } });
  });
  afterAll(async () => {
    await daemon?.close();
  });
  const py = (extra: Record<string, string> = {}): Child =>
    run('python3', ['examples/python-agent.py'], {
      TOKENWARDEN_URL: daemon.server.url,
      TOKENWARDEN_API_KEY: API_KEY,
      AGENT_CONNECTION: 'gmail',
      AGENT_MAILBOX: 'agent',
      AGENT_REPORT_TO: 'boss@example.org',
      AGENT_API_URL: `${peer.issuer}/me`,
      ...extra,
    });

  it('gets a token, calls the API and sends mail through the daemon', async () => {
    const c = py();
    expect(await c.exit).toBe(0);
    expect(c.out()).toMatch(/token: ok \(gmail is healthy, expires in \d+ s\)/);
    expect(c.out()).toContain(`api: GET ${peer.issuer}/me answered 200`);
    expect(c.out()).toMatch(/mail: sent via gmail:gmail \(Message-ID <.+>\)/);
    for (const t of tokens) expect(c.out()).not.toContain(t);
  }, 30_000);

  it('treats 409 as an answer: the cause, asks the daemon to reach the human, mail still goes out via SMTP', async () => {
    await killGrant(daemon);
    const c = py({ AGENT_ASK: '1' });
    expect(await c.exit).toBe(0);
    expect(c.out()).toMatch(/409 TW_REAUTH_REQUIRED: gmail needs its human: .+/);
    expect(c.out()).toMatch(/ {2}fix: .+/);
    expect(c.out()).toContain('still works: mailbox agent: send via smtp 127.0.0.1 (app password)');
    expect(c.out()).toMatch(/asked the daemon to reach the human: HTTP 202, asked via ops/);
    expect(c.out()).toMatch(/mail: sent via smtp:127\.0\.0\.1 \(Message-ID <.+>\)/);
    expect(c.err()).toBe('');
  }, 30_000);
});
