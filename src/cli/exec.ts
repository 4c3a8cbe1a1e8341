/**
 * `tokenwarden exec --env VAR=conn [--env VAR2=conn2] -- <command> [args…]`: runs the command
 * with fresh access tokens in its environment (fetched through the same path as `tokenwarden
 * token`). SIGINT, SIGTERM and SIGHUP are passed on to the command; its exit code is ours, and
 * if a signal killed it, the same signal ends us. When a token needs a human, the command is
 * not started: the diagnosis goes to stderr and the exit code is 3. Tokens come from a
 * `TokenSource` (the full path, or the fast path that falls back to it): this module stays light.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { UsageError } from '../core/errors.js';
import { redact } from '../core/logger.js';
import type { Io } from './output.js';
import type { TokenSource } from './token.js';

const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
const SELF_KILL: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGKILL', 'SIGPIPE', 'SIGALRM'];
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `VAR=conn` pairs, validated (a variable set twice is a mistake, not a preference). */
export function parseEnvPairs(pairs: string[]): Array<{ variable: string; connection: string }> {
  if (!pairs.length) throw new UsageError('Name at least one variable: --env VAR=<connection>.');
  const seen = new Set<string>();
  return pairs.map((p) => {
    const i = p.indexOf('=');
    const variable = i > 0 ? p.slice(0, i) : '';
    const connection = i > 0 ? p.slice(i + 1) : '';
    if (!ENV_NAME.test(variable) || !connection)
      throw new UsageError(`--env expects VAR=<connection> with VAR a shell variable name (got "${p}").`);
    if (seen.has(variable)) throw new UsageError(`--env sets ${variable} twice.`);
    seen.add(variable);
    return { variable, connection };
  });
}

export async function runExec(
  o: { config?: string | undefined; command: string; args: string[]; env: string[] },
  io: Io,
  source: TokenSource,
): Promise<number> {
  const pairs = parseEnvPairs(o.env);
  const conns = [...new Set(pairs.map((p) => p.connection))];
  const tokens = new Map((await source(o, conns))?.map((t) => [t.connection, t.accessToken]));
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const p of pairs) env[p.variable] = tokens.get(p.connection);

  const child = spawn(o.command, o.args, { stdio: 'inherit', env });
  const forward = (sig: NodeJS.Signals): void => {
    child.kill(sig);
  };
  for (const s of FORWARDED) process.on(s, forward);
  let ended: { code: number | null; signal: NodeJS.Signals | null };
  try {
    ended = await new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code, signal) => resolve({ code, signal }));
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'EACCES') throw err;
    io.err(
      redact(
        `tokenwarden: cannot run "${o.command}": ${code === 'ENOENT' ? 'command not found' : 'permission denied'}\n`,
      ),
    );
    return code === 'ENOENT' ? 127 : 126;
  } finally {
    for (const s of FORWARDED) process.off(s, forward);
  }
  if (!ended.signal) return ended.code ?? 1;
  // Die of the same signal, so our parent sees what the command's would have; signals that
  // would dump core or that Node uses itself end us with 128+n instead, as a shell reports it.
  if (SELF_KILL.includes(ended.signal)) process.kill(process.pid, ended.signal);
  return 128 + (constants.signals[ended.signal] ?? 0);
}
