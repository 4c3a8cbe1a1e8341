/**
 * `tokenwarden serve` for benchmarks, run as the product runs it: a child process of the built
 * CLI whose log goes to a file (as to journald or a log file), not into the benchmark's process,
 * which also runs the peers being compared against.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { CLI, type Workspace } from '../../test/helpers/workspace.js';

export interface ServeProcess {
  child: ChildProcess;
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** Everything serve printed on stdout so far (its start lines). */
  stdout(): string;
  /** The log file's content. */
  log(): string;
  stop(): Promise<number | null>;
}

export async function startServeProcess(ws: Workspace): Promise<ServeProcess> {
  const logPath = join(ws.dir, 'serve.log');
  const logFd = openSync(logPath, 'a');
  const child = spawn(process.execPath, [CLI, '--config', ws.configPath, 'serve'], {
    cwd: ws.dir,
    stdio: ['ignore', 'pipe', logFd],
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  let out = '';
  const lines = createInterface({ input: child.stdout! });
  const url = await new Promise<string>((resolve, reject) => {
    lines.on('line', (line) => {
      out += `${line}\n`;
      const m = /serving on (\S+)/.exec(line);
      if (m) resolve(m[1] as string);
    });
    void exited.then((code) => reject(new Error(`serve exited with ${code}: ${readFileSync(logPath, 'utf8')}`)));
  });
  return {
    child,
    url,
    stdout: () => out,
    log: () => readFileSync(logPath, 'utf8'),
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      const code = await exited;
      closeSync(logFd);
      return code;
    },
  };
}
