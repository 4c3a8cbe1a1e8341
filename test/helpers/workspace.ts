/**
 * A throwaway tokenwarden workspace for tests: a temp folder with a config, a key file and a
 * store, plus a runner for the built CLI (`dist/`, built by `npm test` before vitest runs).
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { writeKeyFile } from '../../src/store/key.js';

export const CLI = resolve(import.meta.dirname, '../../dist/cli/main.js');

export interface Workspace {
  dir: string;
  configPath: string;
  dbPath: string;
  writeConfig(config: Record<string, unknown>): void;
  cli(args: string[], opts?: { stdin?: string; env?: NodeJS.ProcessEnv }): Promise<CliResult>;
  spawnCli(args: string[]): ReturnType<typeof spawn>;
  cleanup(): void;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function makeWorkspace(config: Record<string, unknown>): Workspace {
  const dir = mkdtempSync(join(tmpdir(), 'tw-ws-'));
  const configPath = join(dir, 'tokenwarden.yaml');
  writeKeyFile(join(dir, '.tokenwarden', 'key'));
  const ws: Workspace = {
    dir,
    configPath,
    dbPath: join(dir, '.tokenwarden', 'state.db'),
    writeConfig(c) {
      // 0600, as docs/operations.md asks of a config that holds secrets (tests write them out).
      writeFileSync(
        configPath,
        stringify({ store: 'sqlite:.tokenwarden/state.db', key: 'file:.tokenwarden/key', ...c }),
        { mode: 0o600 },
      );
      chmodSync(configPath, 0o600);
    },
    spawnCli(args) {
      return spawn(process.execPath, [CLI, '--config', configPath, ...args], {
        cwd: dir,
        stdio: ['pipe', 'pipe', 'pipe'],
      });
    },
    cli(args, opts = {}) {
      return new Promise((res, rej) => {
        const child = spawn(process.execPath, [CLI, '--config', configPath, ...args], {
          cwd: dir,
          env: { ...process.env, ...opts.env },
          stdio: ['pipe', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.on('error', rej);
        child.on('close', (code) => res({ code, stdout, stderr }));
        child.stdin.end(opts.stdin ?? '');
      });
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
  ws.writeConfig(config);
  return ws;
}

/** Read lines from a child's stdout as they arrive. */
export function lines(
  stream: NodeJS.ReadableStream,
): AsyncIterator<string> & { next(): Promise<IteratorResult<string>> } {
  let buf = '';
  const queue: string[] = [];
  const waiters: Array<(v: IteratorResult<string>) => void> = [];
  let ended = false;
  stream.on('data', (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      const w = waiters.shift();
      if (w) w({ value: line, done: false });
      else queue.push(line);
    }
  });
  stream.on('end', () => {
    ended = true;
    for (const w of waiters.splice(0)) w({ value: undefined, done: true });
  });
  return {
    next() {
      const v = queue.shift();
      if (v !== undefined) return Promise.resolve({ value: v, done: false });
      if (ended) return Promise.resolve({ value: undefined, done: true });
      return new Promise((r) => waiters.push(r));
    },
  };
}

export function cleanupLater(fn: () => void): void {
  process.on('exit', fn);
}
