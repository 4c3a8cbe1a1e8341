/**
 * The CLI refuses or warns about unsafe settings before it does any work: plain http to a
 * non-loopback host for a URL that carries a secret, files others can read, and text from
 * outside that would drive the terminal.
 */
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createChannel } from '../../src/channels/index.js';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger, type Logger } from '../../src/core/logger.js';
import { recoveredMessage } from '../../src/reauth/replies.js';
import { openWarden, partsOf } from '../../src/warden.js';
import { makeWorkspace, type Workspace } from '../helpers/workspace.js';
import { sandboxConnection } from '../helpers/sandbox.js';
import { startOidcProvider, type OidcPeer } from '../peers/oidc-provider.js';

let ws: Workspace | undefined;
afterEach(() => {
  ws?.cleanup();
  ws = undefined;
});

/** Run `tokenwarden serve`; resolves with its exit, or kills it once it says it is serving. */
function serveOutcome(w: Workspace): Promise<{ code: number | null; stdout: string; stderr: string; served: boolean }> {
  return new Promise((resolve, reject) => {
    const child = w.spawnCli(['serve', '--listen', '127.0.0.1:0']);
    let stdout = '';
    let stderr = '';
    let served = false;
    child.stdout?.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (!served && stdout.includes('tokenwarden serving')) {
        served = true;
        child.kill('SIGTERM');
      }
    });
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, served }));
    child.stdin?.end();
  });
}

describe('plain http to a non-loopback host', () => {
  it('`tokenwarden serve` exits 2 naming the key before it serves', async () => {
    ws = makeWorkspace({
      channels: {
        me: { type: 'telegram', bot_token: '123:abc', chat_id: 1, allow_from: [1], api_root: 'http://bot.example.com' },
      },
    });
    const r = await serveOutcome(ws);
    expect(r.served).toBe(false);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      'channels.me.api_root: http:// is allowed only to a loopback host (127.0.0.1, ::1, localhost); use https://',
    );
    expect(r.stderr).not.toContain('123:abc');
  });

  it('a mailbox gmail api_base over plain http is refused the same way', async () => {
    ws = makeWorkspace({
      connections: { g: { provider: 'google', client_id: 'cid', client_secret: 'cs' } },
      mailboxes: {
        m: { address: 'a@example.com', send: [{ gmail: { connection: 'g', api_base: 'http://gmail.example.com' } }] },
      },
    });
    const r = await serveOutcome(ws);
    expect(r.served).toBe(false);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('mailboxes.m.send[0].gmail.api_base: http:// is allowed only to a loopback host');
  });
});

describe('text from outside cannot drive the terminal', () => {
  // An account id whose email claim carries an OSC 8 hyperlink, a colour (CSI via ESC and via
  // C1), a carriage return that would overwrite the line, and a BEL.
  const hostile = 'mallory\u001b]8;;http://evil.example\u0007click\u001b]8;;\u0007\u001b[31m\u009b2J\rX';
  // eslint-disable-next-line no-control-regex -- what must not reach the terminal
  const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;
  let peer: OidcPeer;
  let redirectUri: string;

  beforeAll(async () => {
    redirectUri = 'http://127.0.0.1:9/oauth/callback';
    peer = await startOidcProvider({ redirectUris: [redirectUri] });
  });
  afterAll(async () => {
    await peer?.stop();
  });

  it('`status`, `complete` and the console channel show the account name from the ID token without control characters', async () => {
    ws = makeWorkspace({
      channels: { term: { type: 'console' } },
      connections: {
        sandbox: sandboxConnection(peer, redirectUri, {
          scopes: ['openid', 'offline_access', 'email'],
          notify: ['term'],
        }),
      },
    });
    const started = await ws.cli(['connect', 'sandbox', '--no-wait', '--json']);
    expect(started.code).toBe(0);
    const { url } = JSON.parse(started.stdout.split('\n')[0] ?? '') as { url: string };
    const finalUrl = await peer.approveAuthorization(url, { accountId: hostile });
    const done = await ws.cli(['complete', finalUrl]);
    expect(done.code).toBe(0);

    // The ID token did carry the hostile claim: the store keeps it as received (JSON shows it escaped).
    const json = await ws.cli(['status', '--json']);
    const parsed = JSON.parse(json.stdout) as { connections: Array<{ account: string | null }> };
    const account = parsed.connections[0]?.account ?? '';
    expect(account.startsWith(hostile)).toBe(true);
    expect(json.stdout).not.toMatch(CONTROL);

    const status = await ws.cli(['status']);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain('mallory␛]8;;http://evil.example␇click');
    expect(status.stdout).not.toMatch(CONTROL);
    expect(status.stdout).not.toContain('\r');
    expect(done.stdout + done.stderr).not.toMatch(CONTROL);
    expect(done.stdout + done.stderr).not.toContain('\r');

    // The console channel tells the human the connection recovered, naming the account.
    const w = await openWarden({ configPath: ws.configPath });
    try {
      const [flow] = await partsOf(w).store.listFlows({ connection: 'sandbox' });
      const out: string[] = [];
      const ch = createChannel(
        'term',
        { type: 'console' },
        { clock: systemClock, logger: silentLogger, writeStderr: (t) => out.push(t) },
      );
      await ch.send(recoveredMessage('sandbox', flow!, (await w.status())[0]?.account ?? null));
      const text = out.join('');
      expect(text).toContain('Re-authorized as mallory␛]8;;http://evil.example␇click');
      expect(text).not.toMatch(CONTROL);
      expect(text).not.toContain('\r');
    } finally {
      await w.close();
    }
  });
});

describe('files holding secrets that group or others can read', () => {
  /** A workspace whose key, API key, config (with a literal client secret) and store are all 0644. */
  async function looseWorkspace(): Promise<Workspace> {
    const w = makeWorkspace({
      connections: { g: { provider: 'google', client_id: 'cid', client_secret: 'literal-client-secret-123' } },
    });
    const apiKey = join(w.dir, '.tokenwarden', 'api-key');
    writeFileSync(apiKey, 'tw_api_key_abcdef\n', { mode: 0o600 });
    // The store exists (created 0600) once something opened it; then everything is "restored" 0644.
    const warden = await openWarden({ configPath: w.configPath });
    await warden.close();
    for (const f of [w.configPath, join(w.dir, '.tokenwarden', 'key'), apiKey, w.dbPath]) chmodSync(f, 0o644);
    return w;
  }

  const expected = (w: Workspace): RegExp[] => [
    new RegExp(
      `encryption key file ${join(w.dir, '.tokenwarden', 'key')} is accessible by group or others \\(mode 0644\\)`,
    ),
    new RegExp(
      `API key file ${join(w.dir, '.tokenwarden', 'api-key')} is accessible by group or others \\(mode 0644\\)`,
    ),
    new RegExp(
      `config file ${w.configPath} is accessible by group or others \\(mode 0644\\); run \`chmod 600 ${w.configPath}\`; it holds secrets written out \\(client_secret \\(line \\d+\\)\\)`,
    ),
    new RegExp(`store file ${w.dbPath} is accessible by group or others \\(mode 0644\\)`),
  ];

  it('the CLI warns on stderr for each (key, API key, config with a literal secret, store), and not once they are 0600', async () => {
    ws = await looseWorkspace();
    const r = await ws.cli(['status']);
    expect(r.code).toBe(0);
    for (const re of expected(ws)) expect(r.stderr).toMatch(re);
    expect(r.stderr).not.toContain('literal-client-secret-123');
    for (const f of [
      ws.configPath,
      join(ws.dir, '.tokenwarden', 'key'),
      join(ws.dir, '.tokenwarden', 'api-key'),
      ws.dbPath,
    ])
      chmodSync(f, 0o600);
    const quiet = await ws.cli(['status']);
    expect(quiet.stderr).not.toContain('warning');
  });

  it('`rotate-key` (which opens the store itself) warns the same way', async () => {
    ws = await looseWorkspace();
    const r = await ws.cli(['rotate-key']);
    expect(r.code).toBe(0);
    for (const re of expected(ws)) expect(r.stderr).toMatch(re);
  });

  it('a config that names its secrets as ${VAR} is not a secret file, whatever its mode', async () => {
    ws = makeWorkspace({
      connections: { g: { provider: 'google', client_id: 'cid', client_secret: '${TW_TEST_CS}' } },
    });
    chmodSync(ws.configPath, 0o644);
    const r = await ws.cli(['status'], { env: { TW_TEST_CS: 'from-the-environment' } });
    expect(r.code).toBe(0);
    expect(r.stderr).not.toContain('config file');
  });

  it('the library reports them through the logger (warn), and through onWarning when given', async () => {
    ws = await looseWorkspace();
    const warned: string[] = [];
    const logger: Logger = { ...silentLogger, warn: (m) => warned.push(m) };
    await (await openWarden({ configPath: ws.configPath, logger })).close();
    for (const re of expected(ws)) expect(warned.join('\n')).toMatch(re);
    const told: string[] = [];
    await (await openWarden({ configPath: ws.configPath, onWarning: (m) => told.push(m) })).close();
    // The same warnings (SQLite gave the -wal/-shm files the store's 0644 too).
    expect(told.length).toBeGreaterThanOrEqual(4);
    for (const re of expected(ws)) expect(told.join('\n')).toMatch(re);
  });

  it('`tokenwarden serve` logs them as warnings before it serves', async () => {
    ws = await looseWorkspace();
    const r = await serveOutcome(ws);
    expect(r.served).toBe(true);
    const warns = r.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { level: string; msg: string })
      .filter((l) => l.level === 'warn')
      .map((l) => l.msg)
      .join('\n');
    for (const re of expected(ws)) expect(warns).toMatch(re);
  });
});
