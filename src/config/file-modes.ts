/**
 * Files that hold secrets must not be readable by group or others: the encryption key, the API
 * key file, a service-account key, the SQLite store (and its -wal/-shm), and the config file
 * itself when it holds a secret written out instead of as `${VAR}`. Every entry point (library,
 * CLI, daemon, MCP) reports each such file once when it opens (POSIX only).
 */
import { existsSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { Config } from './schema.js';

/**
 * A secret key (client_secret, secret, password, bot_token, token, api_key) whose value is not a
 * `${VAR}` reference, or a Slack incoming-webhook URL (a secret in itself), in YAML text.
 */
const LITERAL_SECRET =
  /(?:^|[\s{,])(client_secret|secret|password|bot_token|token|api_key)[ \t]*:[ \t]*(?!["']?\$\{)(?!""|'')(?=[^\s#,}\]])|https:\/\/hooks\.slack\.com\/services\/[^\s"']+/gm;

/**
 * Where the config text holds a secret written out rather than as `${VAR}`: up to five entries
 * like `password (line 12)`. The text is scanned only for a file others can read (about 0.1 s for
 * a 25 MB file of 100,000 connections).
 */
export function literalSecretsInText(text: string): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(LITERAL_SECRET)) {
    const line = text.slice(0, m.index).split('\n').length + (m[0].startsWith('\n') ? 1 : 0);
    found.push(`${m[1] ?? 'Slack webhook URL'} (line ${line})`);
    if (found.length === 5) break;
  }
  return found;
}

/** True when group or others may read or write `path` (false when it is missing, or on Windows). */
export function isLooseFile(path: string): boolean {
  if (process.platform === 'win32') return false;
  try {
    return (statSync(path).mode & 0o077) !== 0;
  } catch {
    return false;
  }
}

/** A warning when `path` exists and group or others may read or write it, else null. */
export function privateFileWarning(path: string, what: string, hint = ''): string | null {
  if (process.platform === 'win32') return null;
  let mode: number;
  try {
    mode = statSync(path).mode & 0o777;
  } catch {
    return null;
  }
  if ((mode & 0o077) === 0) return null;
  return `${what} ${path} is accessible by group or others (mode ${mode.toString(8).padStart(4, '0')}); run \`chmod 600 ${path}\`${hint}`;
}

/**
 * Warnings for every secret-holding file of this config other than the encryption key (which
 * `loadKey` reports): config file (when it holds literal secrets), API key file, service-account
 * key files, SQLite store files.
 */
export function fileModeWarnings(opts: {
  config: Config;
  baseDir: string;
  configPath: string | null;
  literalSecrets: readonly string[];
}): string[] {
  const { config, baseDir } = opts;
  const at = (p: string): string => (isAbsolute(p) ? p : resolve(baseDir, p));
  const out: (string | null)[] = [];
  if (opts.configPath) out.push(configFileWarning(opts.configPath, opts.literalSecrets));
  if (!config.server.api_key) {
    const apiKeyFile = at(config.server.api_key_file ?? '.tokenwarden/api-key');
    if (existsSync(apiKeyFile)) out.push(privateFileWarning(apiKeyFile, 'API key file'));
  }
  const keyFiles = new Set<string>();
  for (const c of Object.values(config.connections)) if (c.key_file) keyFiles.add(at(c.key_file));
  for (const f of keyFiles) out.push(privateFileWarning(f, 'service-account key file'));
  const sqlite = /^sqlite:(?!:memory:$)(?:\/\/)?(.+)$/.exec(config.store)?.[1];
  if (sqlite) out.push(...storeFileWarnings(at(sqlite)));
  return out.filter((w): w is string => w !== null);
}

/** The config file, when others may read it and it holds secrets written out. */
export function configFileWarning(path: string, literalSecrets: readonly string[]): string | null {
  if (literalSecrets.length === 0) return null;
  return privateFileWarning(
    path,
    'config file',
    `; it holds secrets written out (${literalSecrets.join(', ')}): or write them as \${VAR}`,
  );
}

/** A SQLite store and its -wal/-shm files. */
export function storeFileWarnings(dbFile: string): string[] {
  return ['', '-wal', '-shm']
    .map((suffix) => privateFileWarning(dbFile + suffix, 'store file', ' (it holds sealed tokens and their metadata)'))
    .filter((w): w is string => w !== null);
}
