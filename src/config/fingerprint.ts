/**
 * The fingerprint of a config that passed validation: a keyed hash of the file's bytes, its path,
 * the value of every environment variable it references and the name of a connection the full
 * path served from it. The CLI's token fast path (`cli/fast-token.ts`) serves a cached token
 * without loading the validator only while the fingerprint of the file as it is now matches one
 * recorded after a full validation: a changed file or a changed `${VAR}` never goes unnoticed.
 * Keyed with the store's encryption key, so the recorded values tell nothing about secrets the
 * environment holds, and cannot be forged without the key.
 */
import { createHmac } from 'node:crypto';

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

export function configFingerprint(
  key: Buffer,
  c: { path: string; text: string; connection: string },
  env: NodeJS.ProcessEnv,
): string {
  // A key of its own, derived from the store key (HMAC as a PRF, as HKDF-Expand does in one step).
  const macKey = createHmac('sha256', key).update('tokenwarden validated config v1').digest();
  const mac = createHmac('sha256', macKey);
  mac.update(`${c.connection}\0${c.path}\0${c.text.length}\0`).update(c.text);
  for (const name of referencedVariables(c.text)) {
    const v = env[name];
    // Unset and empty are the same to the loader (both fall back to the default or fail).
    mac.update(`\0${name}=${v === undefined ? '\u0001unset' : v}`);
  }
  return mac.digest('base64url');
}

/** The file beside a SQLite store that holds `<connection> <fingerprint>` lines. */
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

/**
 * A top-level `name: value` scalar read without a YAML parser, for the few plain forms a config
 * uses (`store: sqlite:x`, `key: 'file:y'`); `undefined` when absent, null when the form is one
 * this reader does not handle (the caller then parses the YAML). A wrong answer cannot serve a
 * wrong token: the fast path only proceeds if the fingerprint, which covers the whole text and
 * is keyed with the key that was read, matches one recorded by a full validation.
 */
export function topLevelScalar(text: string, name: string): string | null | undefined {
  let found: string | null | undefined;
  const prefix = `${name}:`;
  for (const line of text.split('\n')) {
    if (!line.startsWith(prefix) && !line.startsWith(`${name} :`)) continue;
    if (found !== undefined) return null; // twice: let the parser say what it makes of that
    let v = line.slice(line.indexOf(':') + 1).trim();
    if (v.startsWith("'")) {
      const end = v.indexOf("'", 1);
      found =
        end > 0 &&
        !v
          .slice(end + 1)
          .trim()
          .replace(/^#.*/, '')
          ? v.slice(1, end)
          : null;
      if (found !== null && v.slice(1, end).includes("''")) found = null;
    } else if (v.startsWith('"')) {
      const end = v.indexOf('"', 1);
      const inner = end > 0 ? v.slice(1, end) : '';
      found =
        end > 0 &&
        !inner.includes('\\') &&
        !v
          .slice(end + 1)
          .trim()
          .replace(/^#.*/, '')
          ? inner
          : null;
    } else {
      v = v.replace(/\s+#.*$/, '');
      found = v === '' || /^[&*!|>{[%@`#]/.test(v) ? null : v;
    }
  }
  return found;
}
