#!/usr/bin/env node
/**
 * `tokenwarden` CLI. Command modules are imported lazily so `tokenwarden token <conn>` (used as
 * msmtp `passwordeval`) starts fast.
 */
import { readFileSync } from 'node:fs';
import nodeModule from 'node:module';
import type { Command } from 'commander';
import type { Io } from './io.js';
import type { TokenSource } from './token.js';

/** The installed package's version (package.json sits two levels above dist/cli/ and src/cli/). */
function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
  return pkg.version ?? 'unknown';
}

export async function main(argv: string[]): Promise<number> {
  if (argv.includes('token') || argv.includes('git-credential') || argv.includes('exec')) {
    // Cached tokens for an unchanged config are served before anything else is loaded; the
    // same command falls back to the full path by itself (fast-token.ts).
    try {
      const code = await (await import('./fast-token.js')).runFast(argv, process.env);
      if (code !== null) return code;
    } catch (err) {
      return reportError(err);
    }
  }
  const { EXIT } = await import('./exit-codes.js');
  const { processIo } = await import('./output.js');
  const { freshTokens } = await import('./token.js');
  const { Command, CommanderError } = await import('commander');
  const program = new Command('tokenwarden')
    .description('Keeps OAuth credentials alive for headless programs; gets a human to re-authorize in seconds.')
    .version(packageVersion(), '-V, --version', 'print the version')
    .option('-c, --config <path>', 'config file (default: $TOKENWARDEN_CONFIG or ./tokenwarden.yaml)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => processIo.out(s), writeErr: (s) => processIo.err(s) });
  let code = EXIT.ok as number;
  const cmd: CommandScope = {
    g: () => program.opts<{ config?: string }>(),
    run:
      <A extends unknown[]>(fn: (...a: A) => Promise<number>) =>
      async (...a: A): Promise<void> => {
        code = await fn(...a);
      },
    io: processIo,
    freshTokens,
  };
  registerAuthCommands(program, cmd);
  registerTokenCommands(program, cmd);
  registerStoreCommands(program, cmd);
  registerFaceCommands(program, cmd);
  registerMailCommands(program, cmd);

  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    return reportError(err);
  }
}

/** What every command's action needs: the global options, the runner that records the exit code, the terminal. */
interface CommandScope {
  g: () => { config?: string };
  run: <A extends unknown[]>(fn: (...a: A) => Promise<number>) => (...a: A) => Promise<void>;
  io: Io;
  freshTokens: TokenSource;
}

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

/** `init`, `connect`, `complete`: set up and authorize. */
function registerAuthCommands(program: Command, cmd: CommandScope): void {
  const { g, run, io: processIo } = cmd;
  program
    .command('init')
    .description('write a starter tokenwarden.yaml, a 32-byte key file and an API key (never overwrites)')
    .option('--dir <dir>', 'folder to write into', '.')
    .action(run(async (o: { dir: string }) => (await import('./init.js')).runInit(o.dir, processIo)));

  program
    .command('connect <conn>')
    .description('authorize a connection: device code where allowed, else a link (callback or paste)')
    .option('--via <channel>', 'send the link through a configured channel')
    .option('--flow <kind>', 'force device or auth_code')
    .option('--no-wait', 'persist the flow, print the link and exit (finish with `complete`)')
    .option('--json', 'one JSON object per line')
    .action(
      run(async (conn: string, o: { via?: string; flow?: string; wait: boolean; json?: boolean }) =>
        (await import('./connect.js')).runConnect({ ...g(), conn, ...o }, processIo),
      ),
    );

  program
    .command('complete [input]')
    .description(
      'finish an open flow with the redirect URL (or bare code) the browser reached; `-` or no argument reads it from stdin',
    )
    .option('--json', 'JSON output')
    .action(
      run(async (input: string | undefined, o: { json?: boolean }) =>
        (await import('./complete.js')).runComplete({ ...g(), input, ...o }, processIo),
      ),
    );
}

/** `token`, `git-credential`, `exec`: tokens for other programs (their fast path ran before the parser). */
function registerTokenCommands(program: Command, cmd: CommandScope): void {
  const { g, run, io: processIo, freshTokens } = cmd;
  program
    .command('token <conn>')
    .description('print only a valid access token (usable as msmtp passwordeval), or a SASL initial response')
    .option('--format <format>', 'raw (the token), xoauth2 or oauthbearer (base64 SASL initial response)', 'raw')
    .option('--user <addr>', "SASL login (default: the connection's account)")
    .option('--host <host>', 'oauthbearer: the server host name to include')
    .option('--port <port>', 'oauthbearer: the server port to include')
    .action(
      run(async (conn: string, o: { format?: string; user?: string; host?: string; port?: string }) =>
        (await import('./token.js')).runToken({ ...g(), conn, ...o }, processIo),
      ),
    );

  program
    .command('git-credential <operation>')
    .description(
      "git credential helper (get/store/erase): answers with a fresh token for the connection's hosts; store and erase do nothing",
    )
    .requiredOption('--connection <name>', 'connection whose token is the password')
    .action(
      run(async (operation: string, o: { connection: string }) =>
        (await import('./git-credential.js')).runGitCredential({ ...g(), operation, ...o }, processIo, freshTokens),
      ),
    );

  program
    .command('exec <command> [args...]')
    .description('run a command with fresh tokens in its environment (put the command after --)')
    .option('--env <VAR=conn>', 'set VAR to the access token of connection conn (repeatable)', collect)
    .action(
      run(async (command: string, args: string[], o: { env?: string[] }) =>
        (await import('./exec.js')).runExec({ ...g(), command, args, env: o.env ?? [] }, processIo, freshTokens),
      ),
    );
}

/** `status`, `check`, `serve`, `migrate`: the store, its connections and the daemon. */
function registerStoreCommands(program: Command, cmd: CommandScope): void {
  const { g, run, io: processIo } = cmd;
  program
    .command('status')
    .description('connections, their state, expiries and open flows')
    .option('--json', 'JSON output')
    .action(run(async (o: { json?: boolean }) => (await import('./status.js')).runStatus({ ...g(), ...o }, processIo)));

  program
    .command('check [conn]')
    .description('run live provider probes')
    .option('--json', 'JSON output')
    .action(
      run(async (conn: string | undefined, o: { json?: boolean }) =>
        (await import('./check.js')).runCheck({ ...g(), conn, ...o }, processIo),
      ),
    );

  program
    .command('serve')
    .description('run the daemon: refresh ahead of expiry, chat listeners, callback/API server, reminders')
    .option('--listen <host:port>', 'override server.listen')
    .action(run(async (o: { listen?: string }) => (await import('./serve.js')).runServe({ ...g(), ...o }, processIo)));

  program
    .command('migrate')
    .description(
      'move every connection, flow, event and queued mail between stores (SQLite <-> PostgreSQL), secrets kept sealed',
    )
    .requiredOption('--from <store>', 'source store URL (sqlite:PATH or postgres://…)')
    .requiredOption('--to <store>', 'target store URL')
    .option('--key <spec>', "encryption key (env:VAR or file:PATH; default: the config's key)")
    .option('--force', 'replace the contents of a non-empty target')
    .option('--json', 'JSON output')
    .action(
      run(async (o: { from: string; to: string; key?: string; force?: boolean; json?: boolean }) =>
        (await import('./migrate.js')).runMigrate({ ...g(), ...o }, processIo),
      ),
    );
}

/** `mcp`, `demo`, `rotate-key`: the MCP face, the sandbox tour, key rotation. */
function registerFaceCommands(program: Command, cmd: CommandScope): void {
  const { g, run, io: processIo } = cmd;
  program
    .command('mcp')
    .description(
      'Model Context Protocol server on stdio: credential status, re-authorization, mail (never hands out tokens)',
    )
    .action(run(async () => (await import('./mcp.js')).runMcp({ ...g() }, processIo)));

  program
    .command('demo')
    .description(
      'self-contained sandbox tour: local OAuth provider, SMTP server, daemon and a simulated human (no account needed)',
    )
    .option('--once', 'run the tour, print a summary and exit (non-zero if a step failed)')
    .option('--dir <dir>', 'keep the sandbox state in this folder (default: a temp folder, removed at the end)')
    .option('--verbose', 'daemon logs (JSON lines) on stderr')
    .action(
      run(async (o: { once?: boolean; dir?: string; verbose?: boolean }) =>
        (await import('./demo.js')).runDemo(o, processIo),
      ),
    );

  program
    .command('rotate-key')
    .description(
      're-seal every stored secret under a new key (atomic), keeping the old key file as a backup; stop the daemon first',
    )
    .option('--json', 'JSON output')
    .action(
      run(async (o: { json?: boolean }) => (await import('./rotate-key.js')).runRotateKey({ ...g(), ...o }, processIo)),
    );
}

/** `mail send`, `mail list`: mail through a mailbox's routes. */
function registerMailCommands(program: Command, cmd: CommandScope): void {
  const { g, run, io: processIo } = cmd;
  const mail = program.command('mail').description("send and read mail through a mailbox's routes");
  mail
    .command('send <mailbox>')
    .description('queue durably and deliver through the first healthy route (body from --text, --html or stdin)')
    .option('--to <addr>', 'recipient (repeatable)', collect)
    .option('--cc <addr>', 'cc (repeatable)', collect)
    .option('--bcc <addr>', 'bcc (repeatable)', collect)
    .option('--subject <text>', 'subject')
    .option('--text <body>', 'plain-text body')
    .option('--html <body>', 'HTML body')
    .option('--attach <file>', 'attachment (repeatable)', collect)
    .option('--from <addr>', 'sender (default: the mailbox address)')
    .option('--reply-to <addr>', 'Reply-To')
    .option('--in-reply-to <message-id>', 'thread under this Message-ID')
    .option('--idempotency-key <key>', 'dedupe key (default: derived from the message)')
    .option('--json', 'JSON output')
    .action(
      run(async (mailbox: string, o: Record<string, unknown>) =>
        (await import('./mail.js')).runMailSend({ ...g(), mailbox, ...(o as object) }, processIo),
      ),
    );
  mail
    .command('list <mailbox>')
    .description('recent messages, falling back across read routes')
    .option('--since <when>', 'duration (24h, 7d) or date')
    .option('--limit <n>', 'max messages', '20')
    .option('--query <q>', 'provider search query')
    .option('--json', 'JSON output')
    .action(
      run(async (mailbox: string, o: { since?: string; limit?: string; query?: string; json?: boolean }) =>
        (await import('./mail.js')).runMailList({ ...g(), mailbox, ...o }, processIo),
      ),
    );
}

/** A command's error on stderr, in words, and its exit code. */
async function reportError(err: unknown): Promise<number> {
  const { exitCodeFor } = await import('./exit-codes.js');
  const { describeError, processIo } = await import('./output.js');
  processIo.err(describeError(err, Date.now()));
  return exitCodeFor(err);
}

// Run when executed directly (not when imported by tests).
if (import.meta.url === `file://${process.argv[1] ?? ''}` || process.argv[1]?.endsWith('/tokenwarden')) {
  // Node ≥ 22.1 keeps compiled code between runs (a token helper runs once per mail or command).
  (nodeModule as { enableCompileCache?: () => unknown }).enableCompileCache?.();
  main(process.argv.slice(2)).then(
    (c) => {
      process.exitCode = c;
    },
    async (e: unknown) => {
      const { describeError } = await import('./output.js');
      process.stderr.write(describeError(e, Date.now()));
      process.exitCode = 1; // EXIT.unexpected
    },
  );
}
