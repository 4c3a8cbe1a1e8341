/**
 * The token fast path: `tokenwarden token <conn>` (and the helpers that share it) run as msmtp
 * `passwordeval`, git credential helpers and `exec` wrappers, once per mail or per command, so
 * their start-up is the product. When the config file and the environment values it references
 * are exactly those of the last full validation (a keyed fingerprint beside the SQLite store,
 * see config/fingerprint.ts) and the stored access token is healthy and not yet due for refresh,
 * the token is read and opened straight from the store: no schema validator, no argument
 * parser, no OAuth stack. Anything else — a changed file or variable, a token due for refresh, a
 * dead grant, PostgreSQL, an unusual argument — returns null and the full path runs, which
 * validates, refreshes, diagnoses and records a new fingerprint. See docs/architecture.md.
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

export interface FastTokenRequest {
  conn: string;
  config?: string | undefined;
}

/** `[-c PATH] token <conn> [-c PATH]`; anything else (other options, other commands) goes to the full parser. */
export function parseFastTokenArgs(argv: readonly string[]): FastTokenRequest | null {
  const positional: string[] = [];
  let config: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    let value: string | undefined;
    if (a === '-c' || a === '--config') value = argv[++i];
    else if (a.startsWith('--config=')) value = a.slice('--config='.length);
    else if (a.startsWith('-')) return null;
    else {
      positional.push(a);
      continue;
    }
    if (value === undefined || value === '' || config !== undefined) return null;
    config = value;
  }
  if (positional.length !== 2 || positional[0] !== 'token') return null;
  return { conn: positional[1] as string, config };
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
  access_expires_at: number | null;
  last_refresh_at: number | null;
}

/** The store and key specs as the loader would see them (before `${VAR}` expansion). */
async function storeAndKey(text: string): Promise<{ store: unknown; key: unknown }> {
  const store = topLevelScalar(text, 'store');
  const key = topLevelScalar(text, 'key');
  if (store !== null && key !== null) return { store: store ?? DEFAULT_STORE, key: key ?? DEFAULT_KEY };
  const { load, CORE_SCHEMA } = await import('js-yaml');
  const raw = load(text, { schema: CORE_SCHEMA }) as Record<string, unknown> | null;
  return { store: raw?.['store'] ?? DEFAULT_STORE, key: raw?.['key'] ?? DEFAULT_KEY };
}

function warn(message: string): void {
  process.stderr.write(`tokenwarden: warning: ${message}\n`);
}

/** The same file-mode warnings the full path gives (config holding literal secrets, store files). */
function warnLooseFiles(configFile: string, text: string, dbFile: string): void {
  const config = isLooseFile(configFile) ? configFileWarning(configFile, literalSecretsInText(text)) : null;
  for (const w of [config, ...storeFileWarnings(dbFile)]) if (w) warn(w);
}

/** This connection's line in the fingerprint file, if any. */
function recordedFingerprint(file: string, connection: string): string | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  const prefix = `${connection} `;
  for (const line of text.split('\n')) if (line.startsWith(prefix)) return line.slice(prefix.length);
  return null;
}

/**
 * The access token when it can be served without the full path, else null. Never throws for
 * anything the full path would handle (it is run instead and reports the problem properly).
 */
export async function fastToken(req: FastTokenRequest, env: NodeJS.ProcessEnv, now: number): Promise<string | null> {
  const path = configPath(req.config, env, process.cwd());
  if (!path) return null;
  let text: string;
  let specs: { store: unknown; key: unknown };
  try {
    text = readFileSync(path, 'utf8');
    specs = await storeAndKey(text);
  } catch {
    return null;
  }
  const baseDir = dirname(path);
  const storeSpec = expand(specs.store, env);
  const keySpec = expand(specs.key, env);
  if (storeSpec === null || keySpec === null) return null;
  const dbFile = sqliteFile(storeSpec, (p) => resolve(baseDir, p));
  if (!dbFile) return null;
  const recorded = recordedFingerprint(fingerprintFile(dbFile), req.conn);
  if (recorded === null) return null;
  let key: Buffer;
  try {
    key = loadKey(keySpec, { baseDir, env, onWarning: warn });
  } catch {
    return null;
  }
  if (recorded !== configFingerprint(key, { path, text, connection: req.conn }, env)) return null;
  warnLooseFiles(path, text, dbFile);
  let db: SqliteDatabase | undefined;
  try {
    db = openReadonly(dbFile);
    const row = db
      .prepare('SELECT state, access_token, access_expires_at, last_refresh_at FROM connections WHERE name = ?')
      .get(req.conn) as TokenRow | undefined;
    if (!row || !row.access_token || (row.state !== 'healthy' && row.state !== 'degraded')) return null;
    const due = shouldRefresh({
      now,
      hasAccessToken: true,
      accessExpiresAt: row.access_expires_at,
      obtainedAt: row.last_refresh_at,
    });
    if (due.should) return null;
    return createSealer(key).open(row.access_token, aad('connections', req.conn, 'access_token'));
  } catch {
    return null;
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
