/**
 * `tokenwarden git-credential` as git's credential helper, with the built CLI: `git credential
 * fill`, `git ls-remote` and `git clone` over HTTP against `git http-backend` that accepts only
 * a password the oidc-provider peer introspects as an active access token. Hosts that are not
 * the connection's get no answer; `store`/`erase` never delete the grant; an expired token is
 * refreshed on the way; a revoked grant fails git with the diagnosis on stderr.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliOnPath, startAuthorized, type Authorized } from '../helpers/authorized.js';
import { CLI } from '../helpers/workspace.js';
import { startGitHttpPeer, type GitHttpPeer } from '../peers/git-http.js';

let a: Authorized;
let server: GitHttpPeer;
let env: NodeJS.ProcessEnv;
let home: string;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], stdin = '', cwd = home): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { env, cwd }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    // Commands that never read stdin (git config) may be gone before it is written.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(stdin);
  });
}

const tokenCmd = (...args: string[]): Promise<Run> => run(process.execPath, [CLI, ...args]);

beforeAll(async () => {
  a = await startAuthorized();
  server = await startGitHttpPeer({
    verify: async (_user, password) => (await a.peer.introspect(password)).active === true,
  });
  a.configure(
    { git_hosts: [server.url] },
    { gh: { provider: 'github', kind: 'static', secret: 'ghp_static_pat_0123456789' } },
  );
  await a.authorize();
  home = join(a.ws.dir, 'home');
  mkdirSync(home);
  const bin = cliOnPath(a.ws.dir);
  env = {
    ...process.env,
    HOME: home,
    PATH: `${bin}:${process.env['PATH'] ?? ''}`,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: join(home, '.gitconfig'),
    GIT_TERMINAL_PROMPT: '0',
    GIT_ASKPASS: '',
    TOKENWARDEN_CONFIG: a.ws.configPath,
  };
  // The configuration line from docs/integrations.md, pointed at this server and connection.
  const doc = readFileSync(resolve(import.meta.dirname, '../../docs/integrations.md'), 'utf8');
  const line = /^git config --global credential\.(\S+)\.helper '([^']+)'$/m.exec(doc);
  expect(line?.slice(1)).toEqual(['https://github.com', '!tokenwarden git-credential --connection gh']);
  const set = await run('git', [
    'config',
    '--global',
    `credential.${server.url}.helper`,
    (line?.[2] ?? '').replace('--connection gh', '--connection sandbox'),
  ]);
  expect(set.code).toBe(0);
});

afterAll(async () => {
  await server?.stop();
  await a?.stop();
});

describe('git credential helper', () => {
  it('git credential fill gets username oauth2 and the current access token', async () => {
    const r = await run('git', ['credential', 'fill'], `protocol=http\nhost=${server.host}\n\n`);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const fields = new Map(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => l.split('=', 2) as [string, string]),
    );
    expect(fields.get('username')).toBe('oauth2');
    const password = fields.get('password') ?? '';
    expect(password).toBe(await a.storedToken());
    expect((await a.peer.introspect(password)).active).toBe(true);
  });

  it('git ls-remote and git clone authenticate with the token', async () => {
    const before = server.attempts.length;
    const ls = await run('git', ['ls-remote', `${server.url}/repo.git`]);
    expect(ls.stderr).toBe('');
    expect(ls.code).toBe(0);
    expect(ls.stdout).toMatch(/^[0-9a-f]{40}\tHEAD$/m);
    const clone = await run('git', ['clone', '-q', `${server.url}/repo.git`, 'clone1']);
    expect(clone.code).toBe(0);
    expect(readFileSync(join(home, 'clone1', 'README'), 'utf8')).toBe(server.readme);
    const seen = server.attempts.slice(before);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((s) => s.accepted && s.username === 'oauth2')).toBe(true);
    expect(seen.map((s) => s.password)).toContain(await a.storedToken());
  });

  it('an expired token is refreshed on the way; git gets the new one', async () => {
    const old = await a.storedToken();
    const refreshes = a.peer.tokenRequests('refresh_token');
    await a.expire();
    const before = server.attempts.length;
    const ls = await run('git', ['ls-remote', `${server.url}/repo.git`]);
    expect(ls.code).toBe(0);
    expect(a.peer.tokenRequests('refresh_token')).toBe(refreshes + 1);
    const now = await a.storedToken();
    expect(now).not.toBe(old);
    expect(server.attempts.slice(before).every((s) => s.password === now && s.accepted)).toBe(true);
  });

  it('answers nothing for another host or protocol, so git tries its next helper', async () => {
    for (const req of [
      `protocol=https\nhost=${server.host}\n\n`,
      'protocol=http\nhost=127.0.0.1:1\n\n',
      'protocol=https\nhost=github.com\n\n',
      'host=127.0.0.1\n\n',
    ]) {
      const direct = await run(process.execPath, [CLI, 'git-credential', 'get', '--connection', 'sandbox'], req);
      expect(direct, req).toMatchObject({ code: 0, stdout: '', stderr: '' });
    }
    // git with no other helper then has nothing and fails without prompting.
    const other = await run('git', ['ls-remote', 'http://127.0.0.1:1/repo.git']);
    expect(other.code).not.toBe(0);
  });

  it('store and erase do nothing: the grant survives a rejected credential', async () => {
    const token = await a.storedToken();
    for (const op of ['store', 'erase', 'capability']) {
      const r = await run(
        process.execPath,
        [CLI, 'git-credential', op, '--connection', 'sandbox'],
        `protocol=http\nhost=${server.host}\nusername=oauth2\npassword=${token ?? ''}\n\n`,
      );
      expect(r, op).toMatchObject({ code: 0, stdout: '', stderr: '' });
    }
    // git itself calls erase after a refusal.
    const reject = await run(
      'git',
      ['credential', 'reject'],
      `protocol=http\nhost=${server.host}\nusername=oauth2\npassword=x\n\n`,
    );
    expect(reject.code).toBe(0);
    expect(await a.storedToken()).toBe(token);
    const tok = await tokenCmd('token', 'sandbox');
    expect(tok).toMatchObject({ code: 0, stdout: `${token ?? ''}\n` });
  });

  it('GitHub: username x-access-token for github.com by default; the username in the URL is kept', async () => {
    const get = (req: string): Promise<Run> =>
      run(process.execPath, [CLI, 'git-credential', 'get', '--connection', 'gh'], req);
    const r = await get('protocol=https\nhost=github.com\npath=o/r.git\n\n');
    expect(r).toMatchObject({ code: 0, stdout: 'username=x-access-token\npassword=ghp_static_pat_0123456789\n' });
    const named = await get('protocol=https\nhost=github.com\nusername=octocat\n\n');
    expect(named.stdout).toBe('username=octocat\npassword=ghp_static_pat_0123456789\n');
    expect((await get('protocol=http\nhost=github.com\n\n')).stdout).toBe('');
    const unknown = await run(
      process.execPath,
      [CLI, 'git-credential', 'get', '--connection', 'nope'],
      'protocol=https\nhost=github.com\n\n',
    );
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/No connection named "nope"/);
  });

  it('the documented reset keeps a `store` helper from writing the token to ~/.git-credentials', async () => {
    const doc = readFileSync(resolve(import.meta.dirname, '../../docs/integrations.md'), 'utf8');
    const reset =
      /^git config --global (credential\.\S+\.helper) ''\ngit config --global --add (credential\.\S+\.helper) '([^']+)'$/m.exec(
        doc,
      );
    expect(reset?.slice(1)).toEqual([
      'credential.https://github.com.helper',
      'credential.https://github.com.helper',
      '!tokenwarden git-credential --connection gh',
    ]);
    const helper = (reset?.[3] ?? '').replace('--connection gh', '--connection sandbox');
    const key = `credential.${server.url}.helper`;
    for (const withReset of [false, true]) {
      const dir = join(home, `store-${String(withReset)}`);
      mkdirSync(dir);
      const cfg = join(dir, '.gitconfig');
      const saved = env;
      env = { ...env, HOME: dir, GIT_CONFIG_GLOBAL: cfg };
      try {
        expect((await run('git', ['config', '--global', 'credential.helper', 'store'], '', dir)).code).toBe(0);
        if (withReset) expect((await run('git', ['config', '--global', key, ''], '', dir)).code).toBe(0);
        expect((await run('git', ['config', '--global', '--add', key, helper], '', dir)).code).toBe(0);
        const ls = await run('git', ['ls-remote', `${server.url}/repo.git`], '', dir);
        expect(ls.code).toBe(0);
        // Without the reset git hands the working token to `store` too, which writes it in plain text.
        expect(existsSync(join(dir, '.git-credentials')), `reset: ${String(withReset)}`).toBe(!withReset);
      } finally {
        env = saved;
      }
    }
  });

  it('a revoked grant: git fails with the diagnosis on stderr; the helper exits 3', async () => {
    await a.peer.revokeGrantsFor();
    await a.expire();
    const ls = await run('git', ['ls-remote', `${server.url}/repo.git`]);
    expect(ls.code).not.toBe(0);
    expect(ls.stderr).toMatch(/needs a human to re-authorize/);
    const direct = await run(
      process.execPath,
      [CLI, 'git-credential', 'get', '--connection', 'sandbox'],
      `protocol=http\nhost=${server.host}\n\n`,
    );
    expect(direct.code).toBe(3);
    expect(direct.stdout).toBe('');
    expect(direct.stderr).toMatch(/needs a human to re-authorize.*Fix: /s);
  });
});
