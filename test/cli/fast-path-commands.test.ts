/**
 * `token --format xoauth2|oauthbearer`, `git-credential get` and `exec` share the token fast
 * path: with the config file and the `${VAR}`s it uses unchanged since a full validation, they
 * answer without loading the validator, the argument parser or the OAuth stack — exactly what
 * the full path answers (same stdout, stderr and exit code). A changed file, a changed variable
 * or a grant that needs a human each go through the full path, which sees the change.
 * Which path ran is read from the modules the process resolved (a module resolve hook).
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openWarden, partsOf } from '../../src/warden.js';
import { loaded, moduleLogRunner, type LoggedRun, type ModuleLogRunner } from '../helpers/module-log.js';
import { makeWorkspace, type Workspace } from '../helpers/workspace.js';

const gmail = {
  provider: 'google',
  client_id: 'cid',
  client_secret: '${TW_FAST_SECRET}',
  scopes: ['https://www.googleapis.com/auth/gmail.send'],
  account: '${TW_FAST_ACCOUNT:-agent@example.com}',
  git_hosts: ['${TW_FAST_GIT_HOST:-git.example.com}'],
};
// No account configured: the one seen at authorization is used; github.com by default.
const gh = { provider: 'github', client_id: 'ghcid', scopes: ['repo'] };
const config = { connections: { gmail, gh } };

const GMAIL_TOKEN = 'ya29.commands-gmail';
const GH_TOKEN = 'gho_commands-gh';
const ENV = { TW_FAST_SECRET: 's1', TW_FAST_ACCOUNT: undefined, TW_FAST_GIT_HOST: undefined };

let ws: Workspace;
let runner: ModuleLogRunner;

type Opts = { env?: Record<string, string | undefined>; stdin?: string };

function cli(args: string[], opts: Opts = {}): Promise<LoggedRun> {
  return runner.run(['--config', ws.configPath, ...args], { env: { ...ENV, ...opts.env }, stdin: opts.stdin ?? '' });
}

/** Loaded nothing of the validator, the argument parser, the OAuth stack, the chat or HTTP servers. */
const fast = (r: LoggedRun): boolean =>
  r.modules.length > 0 && !['zod', 'commander', 'openid-client', 'grammy', 'hono'].some((p) => loaded(r, p));

/** Forget every validation: the next call takes the full path. */
const forget = (): void => rmSync(`${ws.dbPath}-config-ok`, { force: true });

/** A full-path call that serves both connections, which records the config as validated. */
async function prime(opts: Opts = {}): Promise<void> {
  const r = await cli(['exec', '--env', 'A=gmail', '--env', 'B=gh', '--', process.execPath, '-e', ''], opts);
  expect(r.code).toBe(0);
}

/** The full path's answer, then the fast path's, which must be the same. */
async function fullThenFast(args: string[], opts: Opts = {}): Promise<LoggedRun> {
  forget();
  const full = await cli(args, opts);
  expect(loaded(full, 'zod')).toBe(true);
  await prime(opts);
  const f = await cli(args, opts);
  expect(fast(f)).toBe(true);
  expect({ code: f.code, stdout: f.stdout, stderr: f.stderr }).toEqual({
    code: full.code,
    stdout: full.stdout,
    stderr: full.stderr,
  });
  return f;
}

const sasl = (r: LoggedRun): string => Buffer.from(r.stdout.trim(), 'base64').toString('utf8');
const gitGet = (host: string, extra = ''): Opts => ({ stdin: `protocol=https\nhost=${host}\n${extra}\n` });

async function seed(state?: 'reauth_required'): Promise<void> {
  const w = await openWarden({ configPath: ws.configPath, env: { ...process.env, TW_FAST_SECRET: 's1' } });
  try {
    const grant = (accessToken: string) => ({
      accessToken,
      tokenType: 'Bearer',
      refreshToken: '1//refresh',
      expiresAt: Date.now() + 3_600_000,
    });
    await partsOf(w).keeper.storeGrant('gmail', grant(GMAIL_TOKEN));
    await partsOf(w).keeper.storeGrant('gh', grant(GH_TOKEN), { account: 'octo@example.com' });
    if (state) await partsOf(w).store.updateConnection('gmail', { state }, { now: Date.now() });
  } finally {
    await w.close();
  }
}

beforeAll(async () => {
  ws = makeWorkspace(config);
  runner = moduleLogRunner(ws.dir);
  await seed();
});

afterAll(() => ws.cleanup());

describe('token --format on the fast path', () => {
  it("xoauth2 with the configured account, else the stored one; the full path's answer", async () => {
    const g = await fullThenFast(['token', 'gmail', '--format', 'xoauth2']);
    expect(sasl(g)).toBe(`user=agent@example.com\x01auth=Bearer ${GMAIL_TOKEN}\x01\x01`);
    const h = await fullThenFast(['token', 'gh', '--format', 'xoauth2']);
    expect(sasl(h)).toBe(`user=octo@example.com\x01auth=Bearer ${GH_TOKEN}\x01\x01`);
  });

  it('oauthbearer with --user, --host, --port reads no YAML; nor does the plain token', async () => {
    const r = await fullThenFast([
      'token',
      'gmail',
      '--format',
      'oauthbearer',
      '--user',
      'u@x',
      '--host',
      'h',
      '--port',
      '587',
    ]);
    expect(sasl(r)).toBe(`n,a=u@x,\x01host=h\x01port=587\x01auth=Bearer ${GMAIL_TOKEN}\x01\x01`);
    expect(loaded(r, 'js-yaml')).toBe(false);
    const raw = await cli(['token', 'gmail']);
    expect(raw.stdout).toBe(`${GMAIL_TOKEN}\n`);
    expect(fast(raw) && !loaded(raw, 'js-yaml')).toBe(true);
  });
});

describe('git-credential get on the fast path', () => {
  it("answers a host of the connection's with the full path's answer", async () => {
    const g = await fullThenFast(['git-credential', 'get', '--connection', 'gmail'], gitGet('git.example.com'));
    expect(g.stdout).toMatch(new RegExp(`^username=oauth2\npassword=${GMAIL_TOKEN}\npassword_expiry_utc=\\d+\n$`));
    const h = await fullThenFast(
      ['git-credential', 'get', '--connection', 'gh'],
      gitGet('github.com', 'username=me\n'),
    );
    expect(h.stdout).toMatch(new RegExp(`^username=me\npassword=${GH_TOKEN}\npassword_expiry_utc=\\d+\n$`));
  });

  it('answers nothing for another host, decided without the full path', async () => {
    const r = await fullThenFast(['git-credential', 'get', '--connection', 'gmail'], gitGet('github.com'));
    expect(r).toMatchObject({ code: 0, stdout: '', stderr: '' });
  });

  it('store and erase read the request and do nothing', async () => {
    for (const op of ['store', 'erase']) {
      const r = await cli(['git-credential', op, '--connection', 'gmail'], gitGet('git.example.com', 'password=x\n'));
      expect(r).toMatchObject({ code: 0, stdout: '', stderr: '' });
      expect(fast(r)).toBe(true);
    }
  });
});

describe('exec on the fast path', () => {
  it('puts the tokens of every connection in the environment and passes the exit code back', async () => {
    const script =
      'process.stdout.write(JSON.stringify([process.env.A, process.env.B, process.argv[1]])); process.exit(7)';
    const r = await fullThenFast([
      'exec',
      '--env',
      'A=gmail',
      '--env',
      'B=gh',
      '--',
      process.execPath,
      '-e',
      script,
      'arg',
    ]);
    expect(r.code).toBe(7);
    expect(JSON.parse(r.stdout)).toEqual([GMAIL_TOKEN, GH_TOKEN, 'arg']);
  });
});

describe('the fast path never serves a stale config', () => {
  it('an edited config file: each command answers from the new one', async () => {
    await prime();
    ws.writeConfig({
      connections: { gmail: { ...gmail, account: 'new@example.com', git_hosts: ['git.other.com'] } },
    });
    try {
      // The host is no longer gmail's: nothing (a stale config would have answered).
      const git = await cli(['git-credential', 'get', '--connection', 'gmail'], gitGet('git.example.com'));
      expect(loaded(git, 'zod')).toBe(true);
      expect(git).toMatchObject({ code: 0, stdout: '' });
      const x = await cli(['token', 'gmail', '--format', 'xoauth2']);
      expect(loaded(x, 'zod')).toBe(true);
      expect(sasl(x)).toBe(`user=new@example.com\x01auth=Bearer ${GMAIL_TOKEN}\x01\x01`);
      // gh is gone: the command is not started.
      const e = await cli([
        'exec',
        '--env',
        'A=gmail',
        '--env',
        'B=gh',
        '--',
        process.execPath,
        '-e',
        'console.log(1)',
      ]);
      expect(loaded(e, 'zod')).toBe(true);
      expect(e.code).toBe(2);
      expect(e.stdout).toBe('');
      expect(e.stderr).toMatch(/No connection named "gh"/);
      // Validated now: the new host is answered on the fast path.
      const again = await cli(['git-credential', 'get', '--connection', 'gmail'], gitGet('git.other.com'));
      expect(fast(again)).toBe(true);
      expect(again.stdout).toMatch(new RegExp(`password=${GMAIL_TOKEN}\n`));
    } finally {
      ws.writeConfig(config);
    }
  });

  it('a changed environment variable: each command answers from the new value', async () => {
    await prime();
    const host = { TW_FAST_GIT_HOST: 'git.other.com' };
    const git = await cli(['git-credential', 'get', '--connection', 'gmail'], {
      ...gitGet('git.example.com'),
      env: host,
    });
    expect(loaded(git, 'zod')).toBe(true);
    expect(git).toMatchObject({ code: 0, stdout: '' });
    const x = await cli(['token', 'gmail', '--format', 'xoauth2'], { env: { TW_FAST_ACCOUNT: 'env@example.com' } });
    expect(loaded(x, 'zod')).toBe(true);
    expect(sasl(x)).toBe(`user=env@example.com\x01auth=Bearer ${GMAIL_TOKEN}\x01\x01`);
    const e = await cli(['exec', '--env', 'A=gmail', '--', process.execPath, '-e', 'console.log(1)'], {
      env: { TW_FAST_SECRET: undefined },
    });
    expect(loaded(e, 'zod')).toBe(true);
    expect(e.code).toBe(2);
    expect(e.stdout).toBe('');
    expect(e.stderr).toMatch(/TW_FAST_SECRET is not set/);
  });

  it('a grant that needs a human: exit 3 from the full path, nothing answered, the command not started', async () => {
    await prime();
    await seed('reauth_required');
    try {
      const x = await cli(['token', 'gmail', '--format', 'xoauth2']);
      expect(loaded(x, 'zod')).toBe(true);
      expect(x).toMatchObject({ code: 3, stdout: '' });
      const git = await cli(['git-credential', 'get', '--connection', 'gmail'], gitGet('git.example.com'));
      expect(loaded(git, 'zod')).toBe(true);
      expect(git).toMatchObject({ code: 3, stdout: '' });
      const both = await cli([
        'exec',
        '--env',
        'A=gmail',
        '--env',
        'B=gh',
        '--',
        process.execPath,
        '-e',
        'console.log(1)',
      ]);
      expect(loaded(both, 'zod')).toBe(true);
      expect(both).toMatchObject({ code: 3, stdout: '' });
      // What does not need gmail's token is still decided on the fast path.
      const other = await cli(['git-credential', 'get', '--connection', 'gmail'], gitGet('github.com'));
      expect(fast(other)).toBe(true);
      expect(other).toMatchObject({ code: 0, stdout: '' });
      const ghOnly = await cli([
        'exec',
        '--env',
        'B=gh',
        '--',
        process.execPath,
        '-e',
        'process.stdout.write(process.env.B)',
      ]);
      expect(fast(ghOnly)).toBe(true);
      expect(ghOnly).toMatchObject({ code: 0, stdout: GH_TOKEN });
    } finally {
      await seed();
    }
  });

  it('a command line the fast path does not read goes to the full parser, with the same answer', async () => {
    await prime();
    const args = ['git-credential', 'get', '--connection', 'gh', '--connection', 'gmail'];
    const r = await cli(args, gitGet('git.example.com'));
    expect(loaded(r, 'commander')).toBe(true);
    expect(r.stdout).toMatch(new RegExp(`^username=oauth2\npassword=${GMAIL_TOKEN}\n`));
  });
});
