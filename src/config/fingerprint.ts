/**
 * The fingerprint of a config that passed validation: a keyed hash of the file's bytes, its path
 * and the value of every environment variable it references. The CLI's token fast path
 * (`cli/fast-token.ts`) serves a cached token without loading the validator only while the
 * fingerprint of the file as it is now matches the one recorded after a full validation: a
 * changed file or a changed `${VAR}` never goes unnoticed. Keyed with the store's encryption
 * key, so the recorded value tells nothing about secrets the environment holds.
 */
import { createHmac, hkdfSync } from 'node:crypto';

/** `${VAR}` and `${VAR:-default}` in config strings (the loader expands exactly these). */
export const ENV_REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** Where the store is unless the config says otherwise. */
export const DEFAULT_STORE = 'sqlite:.tokenwarden/state.db';
/** Where the encryption key is unless the config says otherwise. */
export const DEFAULT_KEY = 'file:.tokenwarden/key';

/** Names of the environment variables a config text references, sorted, each once. */
export function referencedVariables(text: string): string[] {
  const names = new Set<string>();
  for (const m of text.matchAll(ENV_REFERENCE)) names.add(m[1] as string);
  return [...names].sort();
}

export function configFingerprint(key: Buffer, path: string, text: string, env: NodeJS.ProcessEnv): string {
  const macKey = Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), 'tokenwarden validated config v1', 32));
  const mac = createHmac('sha256', macKey);
  mac.update(`${path}\0${text.length}\0`).update(text);
  for (const name of referencedVariables(text)) {
    const v = env[name];
    // Unset and empty are the same to the loader (both fall back to the default or fail).
    mac.update(`\0${name}=${v === undefined ? '\u0001unset' : v}`);
  }
  return mac.digest('base64url');
}

/** The file beside a SQLite store that holds the fingerprint of the last config validated with it. */
export function fingerprintFile(dbFile: string): string {
  return `${dbFile}-config-ok`;
}

/** Resolve `sqlite:PATH` like the store opener does; null for any other store. */
export function sqliteFile(spec: string, resolvePath: (p: string) => string): string | null {
  if (!spec.startsWith('sqlite:') || spec === 'sqlite::memory:') return null;
  let path = spec.slice('sqlite:'.length);
  if (path.startsWith('//')) path = path.slice(2);
  return path === '' ? null : resolvePath(path);
}
