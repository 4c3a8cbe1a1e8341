/**
 * Which modules a CLI run loaded: the built CLI runs under a module resolve hook that appends
 * every URL it resolves to a log, so a test can tell the fast path (no validator, no argument
 * parser, no OAuth stack) from the full path.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI } from './workspace.js';

export interface LoggedRun {
  code: number | null;
  stdout: string;
  stderr: string;
  modules: string[];
}

export interface ModuleLogRunner {
  /** Run the built CLI in `dir` with `args`; `env` values set (undefined: removed), `stdin` written. */
  run(args: string[], opts?: { env?: Record<string, string | undefined>; stdin?: string }): Promise<LoggedRun>;
}

/** Whether a run loaded anything from package `pkg`. */
export const loaded = (r: LoggedRun, pkg: string): boolean =>
  r.modules.some((m) => m.includes(`/node_modules/${pkg}/`));

export function moduleLogRunner(dir: string): ModuleLogRunner {
  const log = join(dir, 'resolved.log');
  const hooks = join(dir, 'hooks.mjs');
  writeFileSync(
    hooks,
    `import { appendFileSync } from 'node:fs';\n` +
      `export async function resolve(s, c, next) { const r = await next(s, c); appendFileSync(${JSON.stringify(log)}, r.url + '\\n'); return r; }\n`,
  );
  const hook = join(dir, 'register.mjs');
  writeFileSync(hook, `import { register } from 'node:module';\nregister(${JSON.stringify('file://' + hooks)});\n`);
  return {
    run(args, opts = {}) {
      rmSync(log, { force: true });
      return new Promise((resolve, reject) => {
        const env: NodeJS.ProcessEnv = { ...process.env };
        for (const [k, v] of Object.entries(opts.env ?? {})) {
          if (v === undefined) delete env[k];
          else env[k] = v;
        }
        const child = spawn(process.execPath, ['--import', hook, CLI, ...args], {
          cwd: dir,
          env,
          stdio: ['pipe', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.stdin.on('error', () => undefined); // a command that never reads stdin may be gone first
        child.stdin.end(opts.stdin ?? '');
        child.on('error', reject);
        child.on('close', (code) =>
          resolve({
            code,
            stdout,
            stderr,
            modules: existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : [],
          }),
        );
      });
    },
  };
}
