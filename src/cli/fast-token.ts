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
import { dirname, isAbsolute, resolve } from 'node:path';
import {
  DEFAULT_KEY,
  DEFAULT_STORE,
  ENV_REFERENCE,
  configFingerprint,
  fingerprintFile,
  sqliteFile,
} from '../config/fingerprint.js';
import { shouldRefresh } from '../core/refresh-policy.js';
import { loadKey } from '../store/key.js';
import { createSealer } from '../store/seal.js';
import { aad } from '../store/sqlite/rows.js';

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

/**
 * The access token when it can be served without the full path, else null. Never throws for
 * anything the full path would handle (it is run instead and reports the problem properly).
 */
export async function fastToken(req: FastTokenRequest, env: NodeJS.ProcessEnv, now: number): Promise<string | null> {
  const path = configPath(req.config, env, process.cwd());
  if (!path) return null;
  const text = readFileSync(path, 'utf8');
  const { load, CORE_SCHEMA } = await import('js-yaml');
  let raw: unknown;
  try {
    raw = load(text, { schema: CORE_SCHEMA });
  } catch {
    return null;
  }
  if (!raw || typeof raw !== 'object') return null;
  const top = raw as Record<string, unknown>;
  const conns = top['connections'];
  const conn =
    conns && typeof conns === 'object' && Object.hasOwn(conns, req.conn)
      ? (conns as Record<string, unknown>)[req.conn]
      : undefined;
  if (!conn || typeof conn !== 'object') return null;
  const kind = (conn as Record<string, unknown>)['kind'] ?? 'oauth';
  if (kind === 'static') return null;
  const baseDir = dirname(path);
  const storeSpec = expand(top['store'] ?? DEFAULT_STORE, env);
  const keySpec = expand(top['key'] ?? DEFAULT_KEY, env);
  if (storeSpec === null || keySpec === null) return null;
  const dbFile = sqliteFile(storeSpec, (p) => resolve(baseDir, p));
  if (!dbFile || !existsSync(dbFile)) return null;
  let recorded: string;
  try {
    recorded = readFileSync(fingerprintFile(dbFile), 'utf8').trim();
  } catch {
    return null;
  }
  let key: Buffer;
  try {
    key = loadKey(keySpec, { baseDir, env, onWarning: (m) => process.stderr.write(`warning: ${m}\n`) });
  } catch {
    return null;
  }
  if (recorded !== configFingerprint(key, path, text, env)) return null;
  const { default: Database } = await import('better-sqlite3');
  let db: InstanceType<typeof Database> | undefined;
  try {
    db = new Database(dbFile, { fileMustExist: true, readonly: true });
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
 * After the full path validated `text` (read from `path` before it ran) and served a token,
 * record the fingerprint so the next call can take the fast path. Only if the file still holds
 * the same bytes: a file edited meanwhile was not what was validated.
 */
export function recordValidatedConfig(
  o: { path: string; text: string; storeSpec: string; key: Buffer },
  env: NodeJS.ProcessEnv,
): void {
  const dbFile = sqliteFile(o.storeSpec, (p) => resolve(dirname(o.path), p));
  if (!dbFile) return;
  try {
    if (readFileSync(o.path, 'utf8') !== o.text) return;
    const fp = configFingerprint(o.key, o.path, o.text, env);
    const file = fingerprintFile(dbFile);
    if (existsSync(file) && readFileSync(file, 'utf8').trim() === fp) return;
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, fp + '\n', { mode: 0o600 });
    renameSync(tmp, file);
  } catch {
    // Only a cache: the next call takes the full path again.
  }
}
