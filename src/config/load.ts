/**
 * Finding, reading, expanding and validating `tokenwarden.yaml`.
 * Errors name the key path and say what is expected; unknown keys are errors; nothing is
 * read at import time.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { CORE_SCHEMA, YAMLException, load as loadYaml } from 'js-yaml';
import type { z } from 'zod';
import { ConfigError } from '../core/errors.js';
import { isLooseFile, literalSecretsInText } from './file-modes.js';
import { ENV_REFERENCE as VAR } from './fingerprint.js';
import { isLoopbackHost } from '../core/http-policy.js';
import { configSchema, type Config } from './schema.js';

export interface LoadedConfig {
  config: Config;
  /** Directory relative paths (store, key files) resolve against: the config file's folder. */
  baseDir: string;
  /** Absolute path of the config file, if loaded from one. */
  path: string | null;
  /** Secrets written out in a file others can read (`password (line 12)`); empty otherwise. */
  literalSecrets?: string[];
}

/** `--config` flag, then `TOKENWARDEN_CONFIG`, then `./tokenwarden.yaml`. */
export function findConfigPath(opts: { flag?: string | undefined; env: NodeJS.ProcessEnv; cwd: string }): string {
  const explicit = opts.flag ?? opts.env['TOKENWARDEN_CONFIG'];
  if (explicit) {
    const p = isAbsolute(explicit) ? explicit : resolve(opts.cwd, explicit);
    if (!existsSync(p)) throw new ConfigError(`config file not found: ${p}`);
    return p;
  }
  const p = resolve(opts.cwd, 'tokenwarden.yaml');
  if (!existsSync(p))
    throw new ConfigError(
      `no tokenwarden.yaml in ${opts.cwd}: pass --config PATH, set TOKENWARDEN_CONFIG, or run \`tokenwarden init\``,
    );
  return p;
}

export function loadConfigFile(path: string, env: NodeJS.ProcessEnv): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read config file ${path}: ${(e as Error).message}`, { cause: e });
  }
  // js-yaml, not the `yaml` library: for a file of 100,000 connections (19 MB) it reads in 1.5 s
  // and ~190 MB where the other's document model took 15 s and 1.2 GB (bench/config-load.ts).
  // CORE_SCHEMA: YAML 1.2 scalars only (no timestamps or binary turning into objects).
  let raw: unknown;
  try {
    raw = loadYaml(text, { schema: CORE_SCHEMA, filename: path });
  } catch (e) {
    throw new ConfigError(`${path} is not valid YAML: ${describeYamlError(e, text)}`);
  }
  const config = parseConfig(raw ?? {}, env);
  return { config, baseDir: dirname(path), path, literalSecrets: isLooseFile(path) ? literalSecretsInText(text) : [] };
}

/** The parser's reason and position — never the snippet it quotes, which may hold a secret. */
function describeYamlError(e: unknown, text: string): string {
  if (!(e instanceof YAMLException)) return (e as Error)?.message?.split('\n')[0] ?? 'cannot read it';
  const mark = e.mark as { line: number; column: number } | undefined;
  const where = mark ? ` (line ${mark.line + 1}, column ${mark.column + 1})` : '';
  if (e.reason === 'duplicated mapping key' && mark) {
    const key = /^["']?([A-Za-z0-9_.-]{1,64})["']?\s*:/.exec(
      text.split('\n')[mark.line]?.slice(mark.column) ?? '',
    )?.[1];
    if (key) return `the key "${key}" appears twice in one mapping${where}`;
  }
  return `${e.reason}${where}`;
}

/** Walks at most this many values: aliases can make a small file expand without bound. */
const MAX_CONFIG_VALUES = 10_000_000;

/**
 * Refuse a config whose values are cyclic or explode — YAML aliases (`&a [*a]`, "billion laughs")
 * or an in-memory object: everything after this walks the values as a tree.
 */
function assertBounded(raw: unknown): void {
  let visits = 0;
  const ancestors = new Set<object>();
  const walk = (v: unknown, path: (string | number)[]): void => {
    if (++visits > MAX_CONFIG_VALUES)
      throw new ConfigError(`the config expands to more than ${MAX_CONFIG_VALUES} values (YAML aliases?)`);
    if (!v || typeof v !== 'object') return;
    if (ancestors.has(v))
      throw new ConfigError('a YAML alias refers to the node that contains it (circular structure)', {
        path: keyPath(path),
      });
    ancestors.add(v);
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...path, i]));
    else for (const k of Object.keys(v)) walk((v as Record<string, unknown>)[k], [...path, k]);
    ancestors.delete(v);
  };
  walk(raw, []);
}

/** Validate an in-memory config object (library use: `openWarden({ config })`). */
export function parseConfig(raw: unknown, env: NodeJS.ProcessEnv): Config {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new ConfigError('the config must be a mapping (key: value) at the top level');
  assertBounded(raw);
  const { distinct, share } = distinctConnections(raw as Record<string, unknown>);
  const expanded = expandEnv(distinct, env, []);
  const result = configSchema.safeParse(expanded, { reportInput: true });
  if (!result.success) throw new ConfigError(formatIssues(result.error.issues));
  const config = share(result.data);
  checkReferences(config);
  return config;
}

const CONNECTION_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/**
 * Connections with identical settings (one OAuth app, many accounts) are validated once and share
 * one parsed object: at 100,000 connections, parsing each copy cost 1.8 s and ~100 MB of heap at
 * start-up (bench/scale.ts). An entry whose name is invalid, or whose value cannot be compared,
 * is parsed on its own, so every error still names its own key.
 */
function distinctConnections(raw: Record<string, unknown>): {
  distinct: Record<string, unknown>;
  share: (parsed: Config) => Config;
} {
  const connections = raw['connections'];
  if (!connections || typeof connections !== 'object' || Array.isArray(connections))
    return { distinct: raw, share: (c) => c };
  const entries = Object.entries(connections);
  const firstWith = new Map<string, string>();
  const sameAs = new Map<string, string>();
  const unique: Record<string, unknown> = {};
  for (const [name, value] of entries) {
    let fingerprint: string | undefined;
    if (CONNECTION_NAME.test(name) && value && typeof value === 'object') {
      try {
        fingerprint = JSON.stringify(value);
      } catch {
        fingerprint = undefined; // not representable as JSON (e.g. a BigInt): parsed on its own
      }
    }
    const first = fingerprint === undefined ? undefined : firstWith.get(fingerprint);
    if (first !== undefined) sameAs.set(name, first);
    else {
      if (fingerprint !== undefined) firstWith.set(fingerprint, name);
      unique[name] = value;
    }
  }
  if (sameAs.size === 0) return { distinct: raw, share: (c) => c };
  return {
    distinct: { ...raw, connections: unique },
    share: (parsed) => {
      const all: Config['connections'] = {};
      for (const [name] of entries)
        all[name] = parsed.connections[sameAs.get(name) ?? name] as Config['connections'][string];
      return { ...parsed, connections: all };
    },
  };
}

/**
 * A copy that does not point into the file's text: strings the YAML parser cuts out of its input
 * are slices that keep the whole text alive (19 MB for a file of 100,000 connections, for as
 * long as the daemon runs; bench/serve-memory.ts heap snapshot).
 */
function ownCopy(s: string): string {
  return s.length < 13 ? s : Buffer.from(s, 'utf8').toString('utf8');
}

/** Expand `${VAR}` and `${VAR:-default}` in every string value; a missing variable is an error naming the key. */
function expandEnv(value: unknown, env: NodeJS.ProcessEnv, path: (string | number)[]): unknown {
  if (typeof value === 'string') {
    return ownCopy(value).replace(VAR, (_m, name: string, fallback: string | undefined) => {
      const v = env[name];
      if (v !== undefined && v !== '') return v;
      if (fallback !== undefined) return fallback;
      throw new ConfigError(`environment variable ${name} is not set (referenced as \${${name}})`, {
        path: keyPath(path),
      });
    });
  }
  // A tree by now (assertBounded): no cycle to guard against.
  if (Array.isArray(value)) return value.map((v, i) => expandEnv(v, env, [...path, i]));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = expandEnv(v, env, [...path, k]);
    return out;
  }
  return value;
}

function keyPath(path: readonly PropertyKey[]): string {
  return (
    path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join('') ||
    '(top level)'
  );
}

function formatIssues(issues: z.core.$ZodIssue[]): string {
  const lines = issues.slice(0, 8).map((issue) => {
    const where = keyPath(issue.path);
    if (issue.code === 'unrecognized_keys')
      return `${where}: unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
    if (issue.code === 'invalid_type') return `${where}: expected ${issue.expected}${describeReceived(issue.input)}`;
    if (issue.code === 'invalid_value')
      return `${where}: expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    if (issue.code === 'invalid_union' && 'note' in issue && issue.note === 'No matching discriminator')
      return `${where}: unknown or missing "type"`;
    return `${where}: ${issue.message}`;
  });
  const more = issues.length > 8 ? `\n(and ${issues.length - 8} more)` : '';
  return `invalid config:\n  ${lines.join('\n  ')}${more}`;
}

function describeReceived(input: unknown): string {
  if (input === undefined) return ' (missing)';
  if (input === null) return ', got null';
  if (Array.isArray(input)) return ', got a list';
  return `, got ${typeof input}`;
}

/** Cross-references: notify → channels, mailbox routes → connections. */
function checkReferences(config: Config): void {
  const checked = new Set<object>(); // identical connections share one object (distinctConnections)
  for (const [name, conn] of Object.entries(config.connections)) {
    if (checked.has(conn)) continue;
    checked.add(conn);
    conn.notify.forEach((ch, i) => {
      if (!config.channels[ch])
        throw new ConfigError(
          `unknown channel "${ch}" (defined channels: ${Object.keys(config.channels).join(', ') || 'none'})`,
          {
            path: `connections.${name}.notify[${i}]`,
          },
        );
    });
  }
  for (const [name, mb] of Object.entries(config.mailboxes)) {
    for (const [dir, routes] of [
      ['send', mb.send],
      ['read', mb.read],
    ] as const) {
      routes.forEach((route, i) => {
        const r = route as Record<string, unknown>;
        const target = r['gmail'] ?? r['graph'] ?? r['smtp'] ?? r['imap'];
        const conn = typeof target === 'string' ? target : (target as { connection?: string } | undefined)?.connection;
        if (conn && !config.connections[conn])
          throw new ConfigError(`unknown connection "${conn}"`, { path: `mailboxes.${name}.${dir}[${i}]` });
        if (('smtp' in r || 'imap' in r) && !conn && !(target as { password?: string }).password)
          throw new ConfigError('needs either password (App Password) or connection (XOAUTH2)', {
            path: `mailboxes.${name}.${dir}[${i}]`,
          });
      });
    }
  }
  for (const [name, ch] of Object.entries(config.channels)) {
    if (ch.type === 'email' && !config.mailboxes[ch.mailbox])
      throw new ConfigError(`unknown mailbox "${ch.mailbox}"`, { path: `channels.${name}.mailbox` });
  }
  checkProxies(config);
}

/** Proxies: a known mailbox with routes for the protocol, TLS beyond loopback, one proxy per address. */
function checkProxies(config: Config): void {
  const seen = new Map<string, string>();
  for (const [name, p] of Object.entries(config.proxies)) {
    const path = `proxies.${name}`;
    const mb = config.mailboxes[p.mailbox];
    if (!mb)
      throw new ConfigError(
        `unknown mailbox "${p.mailbox}" (defined mailboxes: ${Object.keys(config.mailboxes).join(', ') || 'none'})`,
        { path: `${path}.mailbox` },
      );
    if (p.protocol === 'smtp' && mb.send.length === 0)
      throw new ConfigError(`mailbox "${p.mailbox}" has no send routes`, { path: `${path}.mailbox` });
    if (p.protocol === 'imap' && !mb.read.some((r) => 'imap' in r))
      throw new ConfigError(`mailbox "${p.mailbox}" has no imap read route to relay to`, { path: `${path}.mailbox` });
    const m = /^\[([0-9a-fA-F:]+)\]:(\d+)$/.exec(p.listen) ?? /^([^:]+):(\d+)$/.exec(p.listen);
    const host = m?.[1] ?? '';
    const port = Number(m?.[2]);
    if (!isLoopbackHost(host) && !p.tls)
      throw new ConfigError(`refusing plaintext logins on ${host}: set tls (cert and key) or listen on 127.0.0.1`, {
        path: `${path}.listen`,
      });
    if (p.tls?.mode === 'starttls' && p.protocol !== 'smtp')
      throw new ConfigError('starttls is only offered by smtp proxies; use mode: implicit', {
        path: `${path}.tls.mode`,
      });
    const other = seen.get(`${host}:${port}`);
    if (other && port !== 0)
      throw new ConfigError(`proxy "${other}" already listens on ${p.listen}`, { path: `${path}.listen` });
    seen.set(`${host}:${port}`, name);
  }
}
