/**
 * The token fast path: `tokenwarden token <conn>` (also `--format xoauth2|oauthbearer`),
 * `git-credential get` and `exec` run as msmtp `passwordeval`, git credential helpers and
 * wrappers, once per mail or per command, so their start-up is the product. When the config file
 * and the environment values it references are exactly those of the last full validation for
 * each connection asked for (a keyed fingerprint beside the SQLite store, see
 * config/fingerprint.ts) and the stored access tokens are healthy and not yet due for refresh,
 * the tokens are read and opened straight from the store: no schema validator, no argument
 * parser, no OAuth stack. What a command needs from the config (a connection's provider, git
 * hosts and username, account) is read from the very text the fingerprint verified. Anything
 * else — a changed file or variable, a token due for refresh, a dead grant, PostgreSQL — and the
 * same command runs on the full path (`freshTokens`), which validates, refreshes, diagnoses and
 * records a new fingerprint; an unusual argument goes to the full argument parser. See
 * docs/architecture.md.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';
import type { Database as SqliteDatabase } from 'better-sqlite3';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import {
  DEFAULT_KEY,
  DEFAULT_STORE,
  ENV_REFERENCE,
  configFingerprint,
  fingerprintFile,
  sqliteFile,
  topLevelScalar,
} from '../config/fingerprint.js';
import { configFileWarning, isLooseFile, literalSecretsInText, storeFileWarnings } from '../config/file-modes.js';
import { shouldRefresh } from '../core/refresh-policy.js';
import { loadKey } from '../store/key.js';
import { createSealer } from '../store/seal.js';
import { aad } from '../store/codec.js';
import { processIo, type Io } from './io.js';
import type { ConnectionFacts, FreshToken, FreshTokenOptions, TokenSource } from './token.js';

/** A command line the fast path runs itself, as the full argument parser would read it. */
export type FastCommand =
  | {
      command: 'token';
      o: { config?: string; conn: string; format?: string; user?: string; host?: string; port?: string };
    }
  | { command: 'git-credential'; o: { config?: string; operation: string; connection: string } }
  | { command: 'exec'; o: { config?: string; command: string; args: string[]; env: string[] } };

/** Options each command takes (each with a value), by long name. */
const OPTIONS: Record<FastCommand['command'], readonly string[]> = {
  token: ['format', 'user', 'host', 'port'],
  'git-credential': ['connection'],
  exec: ['env'],
};

/**
 * `[-c PATH] token <conn> [--format F] [--user U] [--host H] [--port P]`,
 * `git-credential <op> --connection C`, `exec --env VAR=C [--env …] [--] command [args…]`
 * (`-c` anywhere before the command's arguments). Only forms whose reading is beyond doubt:
 * an option given twice, a value that looks like an option, `--help`, anything unknown → null,
 * and the full parser reads it.
 */
export function parseFastArgs(argv: readonly string[]): FastCommand | null {
  const positional: string[] = [];
  const values = new Map<string, string[]>();
  let config: string | undefined;
  let command: FastCommand['command'] | undefined;
  let rest: string[] | undefined; // exec: the command's own arguments
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (command === 'exec' && positional.length > 0) {
      // After the command name everything is its own, but an option here would be read by the
      // full parser: only plain words.
      if (a.startsWith('-')) return null;
      positional.push(a);
      continue;
    }
    if (a === '--') {
      if (command !== 'exec') return null;
      rest = argv.slice(i + 1) as string[];
      break;
    }
    let name: string;
    let value: string | undefined;
    if (a === '-c') [name, value] = ['config', argv[++i]];
    else if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      name = eq > 0 ? a.slice(2, eq) : a.slice(2);
      value = eq > 0 ? a.slice(eq + 1) : argv[++i];
    } else if (a.startsWith('-')) return null;
    else {
      if (command === undefined) {
        if (a !== 'token' && a !== 'git-credential' && a !== 'exec') return null;
        command = a;
      } else positional.push(a);
      continue;
    }
    if (value === undefined || value === '' || value.startsWith('-')) return null;
    if (name === 'config') {
      if (config !== undefined) return null;
      config = value;
      continue;
    }
    if (command === undefined || !OPTIONS[command].includes(name)) return null;
    const list = values.get(name) ?? [];
    if (list.length > 0 && name !== 'env') return null;
    values.set(name, [...list, value]);
  }
  const one = (name: string): { [k: string]: string } => {
    const v = values.get(name)?.[0];
    return v === undefined ? {} : { [name]: v };
  };
  const c = config === undefined ? {} : { config };
  if (command === 'token' && positional.length === 1)
    return {
      command,
      o: { ...c, conn: positional[0] as string, ...one('format'), ...one('user'), ...one('host'), ...one('port') },
    };
  if (command === 'git-credential' && positional.length === 1 && values.has('connection'))
    return {
      command,
      o: { ...c, operation: positional[0] as string, connection: values.get('connection')?.[0] as string },
    };
  if (command === 'exec') {
    const words = rest ?? positional;
    if (rest !== undefined && positional.length > 0) return null;
    if (words.length === 0 || !values.has('env')) return null;
    return {
      command,
      o: { ...c, command: words[0] as string, args: words.slice(1), env: values.get('env') as string[] },
    };
  }
  return null;
}

/**
 * Run the command on the fast path; the exit code, or null when the full argument parser must
 * read the command line. Errors are thrown as the commands throw them on the full path.
 */
export async function runFast(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number | null> {
  const cmd = parseFastArgs(argv);
  if (!cmd) return null;
  const source: TokenSource = async (o, conns, opts = {}) => {
    const fast = await fastTokens(o, conns, opts, env, Date.now());
    return fast !== undefined ? fast : (await import('./token.js')).freshTokens(o, conns, opts);
  };
  if (cmd.command === 'token' && Object.keys(cmd.o).every((k) => k === 'config' || k === 'conn')) {
    // The plain token (msmtp's passwordeval): runToken's raw case, without loading it.
    const got = await fastTokens(cmd.o, [cmd.o.conn], {}, env, Date.now());
    if (got?.[0]) {
      processIo.out(got[0].accessToken + '\n');
      return 0;
    }
    return (await import('./token.js')).runToken(cmd.o, processIo);
  }
  return run(cmd, processIo, source);
}

function run(cmd: FastCommand, io: Io, source: TokenSource): Promise<number> {
  switch (cmd.command) {
    case 'token':
      return import('./token.js').then((m) => m.runToken(cmd.o, io, source));
    case 'git-credential':
      return import('./git-credential.js').then((m) => m.runGitCredential(cmd.o, io, source));
    case 'exec':
      return import('./exec.js').then((m) => m.runExec(cmd.o, io, source));
  }
}

/** Where the full path would read the config from; null where it would fail (it says why). */
function configPath(flag: string | undefined, env: NodeJS.ProcessEnv, cwd: string): string | null {
  const explicit = flag ?? env['TOKENWARDEN_CONFIG'];
  const p = explicit ? (isAbsolute(explicit) ? explicit : resolve(cwd, explicit)) : resolve(cwd, 'tokenwarden.yaml');
  return existsSync(p) ? p : null;
}

/** `${VAR}` expansion as the loader does it, or null where the loader would refuse. */
function expand(value: unknown, env: NodeJS.ProcessEnv): string | null {
  if (typeof value !== 'string') return null;
  let missing = false;
  const out = value.replace(ENV_REFERENCE, (_m, name: string, fallback: string | undefined) => {
    const v = env[name];
    if (v !== undefined && v !== '') return v;
    if (fallback !== undefined) return fallback;
    missing = true;
    return '';
  });
  return missing ? null : out;
}

interface TokenRow {
  state: string;
  access_token: string | null;
  token_type: string | null;
  account: string | null;
  access_expires_at: number | null;
  last_refresh_at: number | null;
}

type Mapping = Record<string, unknown>;

const mapping = (v: unknown): Mapping | null =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Mapping) : null;

/** The config text as the loader reads it (js-yaml, YAML 1.2 core schema): only when needed. */
async function parseYaml(text: string): Promise<unknown> {
  const { load, CORE_SCHEMA } = await import('js-yaml');
  return load(text, { schema: CORE_SCHEMA });
}

/** The store and key specs as the loader would see them (before `${VAR}` expansion). */
async function storeAndKey(text: string, yaml: () => Promise<unknown>): Promise<{ store: unknown; key: unknown }> {
  const store = topLevelScalar(text, 'store');
  const key = topLevelScalar(text, 'key');
  if (store !== null && key !== null) return { store: store ?? DEFAULT_STORE, key: key ?? DEFAULT_KEY };
  const raw = mapping(await yaml());
  return { store: raw?.['store'] ?? DEFAULT_STORE, key: raw?.['key'] ?? DEFAULT_KEY };
}

/**
 * What the commands need of a connection, from a config text that passed validation (with the
 * same environment: the fingerprint covers both), `${VAR}` expanded as the loader does; null for
 * anything the validator would not have let through.
 */
function connectionFacts(raw: unknown, name: string, env: NodeJS.ProcessEnv): ConnectionFacts | null {
  const conns = mapping(mapping(raw)?.['connections']);
  const c = conns && Object.hasOwn(conns, name) ? mapping(conns[name]) : null;
  if (!c) return null;
  const text = (k: string): string | null | undefined => (c[k] === undefined ? undefined : expand(c[k], env));
  // Validated: one of the provider ids.
  const provider = text('provider') as ConnectionFacts['provider'] | null | undefined;
  const gitUsername = text('git_username');
  const account = text('account');
  const hosts = c['git_hosts'];
  const gitHosts = Array.isArray(hosts) ? hosts.map((h) => expand(h, env)) : hosts === undefined ? [] : [null];
  if (!provider || gitUsername === null || account === null || gitHosts.includes(null)) return null;
  return {
    provider,
    ...(Array.isArray(hosts) ? { git_hosts: gitHosts as string[] } : {}),
    ...(gitUsername !== undefined ? { git_username: gitUsername } : {}),
    ...(account !== undefined ? { account } : {}),
  };
}

/** The same file-mode warnings the full path gives (config holding literal secrets, store files). */
function looseFileWarnings(configFile: string, text: string, dbFile: string): string[] {
  const config = isLooseFile(configFile) ? configFileWarning(configFile, literalSecretsInText(text)) : null;
  return [config, ...storeFileWarnings(dbFile)].filter((w): w is string => !!w);
}

/** `<connection> <fingerprint>` lines of the fingerprint file (none if there is none). */
function recordedFingerprints(file: string): Map<string, string> {
  const out = new Map<string, string>();
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    const i = line.indexOf(' ');
    if (i > 0 && !out.has(line.slice(0, i))) out.set(line.slice(0, i), line.slice(i + 1));
  }
  return out;
}

/**
 * What `freshTokens` would answer, decided without the full path: the tokens, or null where a
 * command's `accept` declined a connection (nothing fetched); `undefined` when the fast path
 * cannot decide and the full path must run. Never throws for anything the full path would
 * handle (it runs instead and reports the problem properly), and writes nothing (warnings
 * included) unless it decided.
 */
/** A config file the full path validated, for each of the connections asked for, under this environment. */
interface VerifiedConfig {
  path: string;
  text: string;
  yaml: () => Promise<unknown>;
  dbFile: string;
  key: Buffer;
  warnings: string[];
}

/**
 * The config, store file and key, when the file and the environment values it references are the
 * ones last validated for every connection in `conns` (the keyed fingerprints beside the store);
 * `undefined` sends the caller down the full path.
 */
async function verifiedConfig(
  o: { config?: string | undefined },
  conns: string[],
  env: NodeJS.ProcessEnv,
): Promise<VerifiedConfig | undefined> {
  const path = configPath(o.config, env, process.cwd());
  if (!path || conns.length === 0) return undefined;
  let text = '';
  let parsed: Promise<unknown> | undefined;
  const yaml = (): Promise<unknown> => (parsed ??= parseYaml(text));
  let specs: { store: unknown; key: unknown };
  try {
    text = readFileSync(path, 'utf8');
    specs = await storeAndKey(text, yaml);
  } catch {
    return undefined;
  }
  const baseDir = dirname(path);
  const storeSpec = expand(specs.store, env);
  const keySpec = expand(specs.key, env);
  if (storeSpec === null || keySpec === null) return undefined;
  const dbFile = sqliteFile(storeSpec, (p) => resolve(baseDir, p));
  if (!dbFile) return undefined;
  const recorded = recordedFingerprints(fingerprintFile(dbFile));
  if (conns.some((c) => !recorded.has(c))) return undefined;
  const warnings: string[] = [];
  let key: Buffer;
  try {
    key = loadKey(keySpec, { baseDir, env, onWarning: (w) => warnings.push(w) });
  } catch {
    return undefined;
  }
  for (const connection of conns)
    if (recorded.get(connection) !== configFingerprint(key, { path, text, connection }, env)) return undefined;
  return { path, text, yaml, dbFile, key, warnings };
}

export async function fastTokens(
  o: { config?: string | undefined },
  conns: string[],
  opts: FreshTokenOptions,
  env: NodeJS.ProcessEnv,
  now: number,
): Promise<FreshToken[] | null | undefined> {
  const v = await verifiedConfig(o, conns, env);
  if (!v) return undefined;
  // From here on `v.text` is a config the full path validated: what the commands need of it may be
  // read from it directly.
  const decided = <T>(result: T): T => {
    for (const w of [...v.warnings, ...looseFileWarnings(v.path, v.text, v.dbFile)])
      processIo.err(`tokenwarden: warning: ${w}\n`);
    return result;
  };
  let db: SqliteDatabase | undefined;
  try {
    const facts = opts.accept || opts.account ? await v.yaml() : undefined;
    const sealer = createSealer(v.key);
    const out: FreshToken[] = [];
    for (const name of conns) {
      const f = facts === undefined ? undefined : connectionFacts(facts, name, env);
      if (facts !== undefined && !f) return undefined;
      if (f && opts.accept && !opts.accept({ name, config: f, provider: f.provider })) return decided(null);
      db ??= openReadonly(v.dbFile);
      const row = db
        .prepare(
          'SELECT state, access_token, token_type, account, access_expires_at, last_refresh_at FROM connections WHERE name = ?',
        )
        .get(name) as TokenRow | undefined;
      if (!row || !row.access_token || (row.state !== 'healthy' && row.state !== 'degraded')) return undefined;
      const due = shouldRefresh({
        now,
        hasAccessToken: true,
        accessExpiresAt: row.access_expires_at,
        obtainedAt: row.last_refresh_at,
      });
      if (due.should) return undefined;
      out.push({
        connection: name,
        accessToken: sealer.open(row.access_token, aad('connections', name, 'access_token')),
        tokenType: row.token_type === null ? 'Bearer' : row.token_type,
        expiresAt: row.access_expires_at,
        account: opts.account ? (f?.account ?? row.account ?? null) : null,
      });
    }
    return decided(out);
  } catch {
    return undefined;
  } finally {
    db?.close();
  }
}

/**
 * better-sqlite3 through `require`, not `import()` (which runs the CommonJS export scanner over
 * it), and its addon by path where the build put it (the `bindings` lookup tries a dozen).
 */
function openReadonly(file: string): SqliteDatabase {
  const require = createRequire(import.meta.url);
  const Database = require('better-sqlite3') as typeof BetterSqlite3;
  const addon = join(dirname(require.resolve('better-sqlite3/package.json')), 'build/Release/better_sqlite3.node');
  return new Database(file, {
    fileMustExist: true,
    readonly: true,
    ...(existsSync(addon) ? { nativeBinding: addon } : {}),
  });
}

/**
 * After the full path validated `text` (read from `path` before it ran) and served a token from
 * the store for `connection`, record the fingerprint so the next call can take the fast path.
 * Only if the file still holds the same bytes: a file edited meanwhile was not what was validated.
 * Lines of other connections are kept while they still match the text; stale ones are dropped.
 */
export function recordValidatedConfig(
  o: { path: string; text: string; storeSpec: string; key: Buffer; connection: string },
  env: NodeJS.ProcessEnv,
): void {
  const dbFile = sqliteFile(o.storeSpec, (p) => resolve(dirname(o.path), p));
  if (!dbFile || /\s/.test(o.connection)) return;
  try {
    if (readFileSync(o.path, 'utf8') !== o.text) return;
    const file = fingerprintFile(dbFile);
    const fp = (connection: string): string =>
      configFingerprint(o.key, { path: o.path, text: o.text, connection }, env);
    const mine = `${o.connection} ${fp(o.connection)}`;
    let lines: string[] = [];
    try {
      lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
    } catch {
      // first record
    }
    if (lines.includes(mine)) return;
    const keep = lines.filter((l) => {
      const [name, value] = l.split(' ');
      return name !== undefined && name !== o.connection && value === fp(name);
    });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, [...keep, mine].join('\n') + '\n', { mode: 0o600 });
    renameSync(tmp, file);
  } catch {
    // Only a cache: the next call takes the full path again.
  }
}
