/**
 * `tokenwarden exec` with the built CLI: fresh tokens in the command's environment, signals
 * passed on, the command's exit code and signal death passed back, and a dead grant stops the
 * command from starting (exit 3, diagnosis on stderr).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthorized, type Authorized } from '../helpers/authorized.js';
import { lines } from '../helpers/workspace.js';

let a: Authorized;

beforeAll(async () => {
  a = await startAuthorized({}, { api: { provider: 'oauth2', kind: 'static', secret: 'static-api-key-42' } });
  await a.authorize();
});

afterAll(async () => {
  await a?.stop();
});

/** A node one-liner as the command. */
const nodeCmd = (script: string): string[] => ['--', process.execPath, '-e', script];

describe('tokenwarden exec', () => {
  it('puts fresh tokens into the named variables and passes the exit code back', async () => {
    const r = await a.ws.cli([
      'exec',
      '--env',
      'SANDBOX_TOKEN=sandbox',
      '--env',
      'API_KEY=api',
      ...nodeCmd(
        'process.stdout.write(JSON.stringify([process.env.SANDBOX_TOKEN, process.env.API_KEY, process.argv[1]])); process.exit(7)',
      ),
      'an-arg',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(7);
    const [token, key, arg] = JSON.parse(r.stdout) as string[];
    expect(token).toBe(await a.storedToken());
    expect((await a.peer.introspect(token ?? '')).active).toBe(true);
    expect(key).toBe('static-api-key-42');
    expect(arg).toBe('an-arg');
  });

  it('refreshes an expired token before starting the command', async () => {
    const old = await a.storedToken();
    await a.expire();
    const r = await a.ws.cli(['exec', '--env', 'T=sandbox', ...nodeCmd('process.stdout.write(process.env.T)')]);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toBe(old);
    expect(r.stdout).toBe(await a.storedToken());
    expect((await a.peer.introspect(r.stdout)).active).toBe(true);
  });

  it.each(['SIGINT', 'SIGTERM', 'SIGHUP'] as const)('passes %s on to the command', async (sig) => {
    const child = a.ws.spawnCli([
      'exec',
      '--env',
      'T=sandbox',
      ...nodeCmd(
        `process.on('${sig}', () => { console.log('got ${sig}'); process.exit(42); }); console.log('ready'); setInterval(() => {}, 1000);`,
      ),
    ]);
    child.stdin?.end();
    const out = lines(child.stdout!);
    expect((await out.next()).value).toBe('ready');
    const exited = new Promise<[number | null, string | null]>((r) => child.on('exit', (c, s) => r([c, s])));
    child.kill(sig);
    expect((await out.next()).value).toBe(`got ${sig}`);
    expect(await exited).toEqual([42, null]);
  });

  it('dies of the signal that killed the command', async () => {
    const child = a.ws.spawnCli([
      'exec',
      '--env',
      'T=sandbox',
      ...nodeCmd("console.log('ready'); setInterval(() => {}, 1000);"),
    ]);
    child.stdin?.end();
    const out = lines(child.stdout!);
    expect((await out.next()).value).toBe('ready');
    const exited = new Promise<[number | null, string | null]>((r) => child.on('exit', (c, s) => r([c, s])));
    child.kill('SIGTERM');
    expect(await exited).toEqual([null, 'SIGTERM']);
  });

  it('a missing command exits 127; bad --env is a usage error; nothing runs', async () => {
    const missing = await a.ws.cli(['exec', '--env', 'T=sandbox', '--', 'no-such-command-tw']);
    expect(missing.code).toBe(127);
    expect(missing.stderr).toMatch(/cannot run "no-such-command-tw": command not found/);
    for (const [args, msg] of [
      [['--env', '1X=sandbox'], /VAR=<connection>/],
      [['--env', 'X'], /VAR=<connection>/],
      [['--env', 'X=sandbox', '--env', 'X=api'], /sets X twice/],
      [[], /at least one variable/],
      [['--env', 'X=nope'], /No connection named "nope"/],
    ] as const) {
      const marker = join(a.ws.dir, 'ran');
      const r = await a.ws.cli([
        'exec',
        ...args,
        ...nodeCmd(`require('fs').writeFileSync(${JSON.stringify(marker)}, '')`),
      ]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(msg);
      expect(existsSync(marker)).toBe(false);
    }
  });

  it('a revoked grant: exit 3 with the diagnosis, the command is not started', async () => {
    await a.peer.revokeGrantsFor();
    await a.expire();
    const marker = join(a.ws.dir, 'started');
    const r = await a.ws.cli([
      'exec',
      '--env',
      'T=sandbox',
      ...nodeCmd(`require('fs').writeFileSync(${JSON.stringify(marker)}, '')`),
    ]);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/needs a human to re-authorize.*Fix: /s);
    expect(existsSync(marker)).toBe(false);
  });
});
