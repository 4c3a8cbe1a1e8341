/**
 * Installed for real: `npm pack` the built package, install the tarball into a throwaway prefix
 * the way `npm install -g --prefix DIR` lays it out (DIR/lib/node_modules/tokenwarden, the `bin`
 * entry linked as DIR/bin/tokenwarden), with production dependencies only, and run the command
 * from outside the repository: `--version`, `init`, `status`.
 *
 * Dependencies come offline from the npm cache that `npm ci` filled, pinned by this repository's
 * lockfile (a registry resolution would make the test depend on the network and on newer
 * releases). better-sqlite3's addon is the one `npm ci` already compiled for this Node (same
 * version, by the lockfile) instead of a second ~60 s compile.
 */
import { execFile, spawn } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const REPO = resolve(import.meta.dirname, '../..');
const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as {
  version: string;
  bin: Record<string, string>;
};
let work: string;
let prefix: string;
let installed: string;
/** Only the installed bin and the running node on PATH: nothing from the repository. */
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'tw-install-'));
  prefix = join(work, 'prefix');
  const npmEnv = { ...process.env, npm_config_update_notifier: 'false', npm_config_fund: 'false' };
  const packed = await run('npm', ['pack', '--json', '--pack-destination', work], { cwd: REPO, env: npmEnv });
  const filename = (JSON.parse(packed.stdout) as Array<{ filename: string }>)[0]?.filename;
  if (!filename) throw new Error(`npm pack named no tarball: ${packed.stdout}`);
  installed = join(prefix, 'lib', 'node_modules', 'tokenwarden');
  mkdirSync(installed, { recursive: true });
  await run('tar', ['-xzf', join(work, filename), '-C', installed, '--strip-components=1']);
  copyFileSync(join(REPO, 'package-lock.json'), join(installed, 'package-lock.json'));
  await run('npm', ['ci', '--omit=dev', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], {
    cwd: installed,
    env: npmEnv,
  });
  const addon = 'node_modules/better-sqlite3/build/Release/better_sqlite3.node';
  mkdirSync(dirname(join(installed, addon)), { recursive: true });
  copyFileSync(join(REPO, addon), join(installed, addon));
  // What npm does for a global install: make each `bin` target executable and link it into PREFIX/bin.
  mkdirSync(join(prefix, 'bin'));
  for (const [name, target] of Object.entries(pkg.bin)) {
    chmodSync(join(installed, target), 0o755);
    symlinkSync(relative(join(prefix, 'bin'), join(installed, target)), join(prefix, 'bin', name));
  }
  env = { PATH: `${join(prefix, 'bin')}:${dirname(process.execPath)}:/usr/bin:/bin`, HOME: work, LANG: 'C.UTF-8' };
}, 180_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the packed tarball, installed', () => {
  it('`tokenwarden demo` runs the sandbox tour and suggests commands that work from PATH', async () => {
    const child = spawn('tokenwarden', ['demo', '--dir', join(work, 'demo')], { cwd: work, env });
    let out = '';
    const exited = new Promise<number | null>((r) => child.once('close', (code) => r(code)));
    await new Promise<void>((resolveReady, rejectReady) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('Press Ctrl-C')) resolveReady();
      });
      void exited.then((code) => rejectReady(new Error(`demo exited with ${code}: ${out}`)));
    });
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(out).toMatch(/^ {2}tokenwarden --config \S+ status$/m);
    expect(out).not.toContain('npx');
  });

  it('ships the built CLI and library, not the sources or tests', () => {
    expect(readdirSync(installed).sort()).toEqual([
      'README.md',
      'dist',
      'node_modules',
      'package-lock.json',
      'package.json',
    ]);
    expect(existsSync(join(installed, 'dist', 'cli', 'main.js'))).toBe(true);
    expect(existsSync(join(installed, 'dist', 'index.d.ts'))).toBe(true);
    // Production dependencies only: a runtime import of a devDependency would fail below.
    expect(existsSync(join(installed, 'node_modules', 'vitest'))).toBe(false);
  });

  it('`tokenwarden --version` from PATH prints the package version', async () => {
    const r = await run('tokenwarden', ['--version'], { cwd: work, env });
    expect(r.stdout).toBe(`${pkg.version}\n`);
  });

  it('`tokenwarden init` then `tokenwarden status` work in a fresh folder outside the repository', async () => {
    const dir = join(work, 'agent');
    mkdirSync(dir);
    const init = await run('tokenwarden', ['init'], { cwd: dir, env });
    expect(init.stdout).toMatch(/wrote .*tokenwarden\.yaml/);
    expect(existsSync(join(dir, 'tokenwarden.yaml'))).toBe(true);
    expect(existsSync(join(dir, '.tokenwarden', 'key'))).toBe(true);
    const status = await run('tokenwarden', ['status', '--json'], { cwd: dir, env });
    expect(JSON.parse(status.stdout)).toMatchObject({ connections: [] });
    // The store the installed better-sqlite3 opened is on disk.
    expect(readdirSync(join(dir, '.tokenwarden'))).toContain('state.db');
  });
});
