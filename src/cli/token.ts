/**
 * `tokenwarden token <conn>`: prints only the access token (or a SASL initial response built
 * from it) on stdout; facts on stderr; exit 3 when a human must act.
 *
 * `freshTokens` is the one full path every "hand a token to another program" command takes
 * (`token`, `git-credential get`, `exec`): it validates the config, refreshes, diagnoses and
 * records the config fingerprint that lets the next call take the fast path (fast-token.ts).
 * The commands take their tokens from a `TokenSource`, so the fast path can run them without
 * loading the warden; this module loads it only when `freshTokens` runs.
 */
import type { ConnectionConfig } from '../config/schema.js';
import { UsageError } from '../core/errors.js';
import { saslInitialResponse, SASL_FORMATS, type SaslFormat } from '../integrations/sasl.js';
import type { ProviderProfile } from '../providers/types.js';
import type { Io } from './output.js';

export interface FreshToken {
  connection: string;
  accessToken: string;
  tokenType: string;
  expiresAt: number | null;
  /** The account identity (the configured `account`, else the one seen at authorization); only when asked for. */
  account: string | null;
}

/** What a command may decide from a connection's config before any token is fetched. */
export type ConnectionFacts = Pick<ConnectionConfig, 'provider' | 'git_hosts' | 'git_username' | 'account'>;

export interface FreshTokenOptions {
  /** Decide from the connection's config whether to fetch at all (false: nothing is fetched, null returned). */
  accept?: (c: { name: string; config: ConnectionFacts; provider: ProviderProfile['id'] }) => boolean;
  /** Also look up the account identity. */
  account?: boolean;
}

/** Where a command gets its tokens: `freshTokens`, or the fast path that falls back to it. */
export type TokenSource = (
  o: { config?: string | undefined },
  conns: string[],
  opts?: FreshTokenOptions,
) => Promise<FreshToken[] | null>;

/**
 * Fresh access tokens for `conns` (refreshed ahead of expiry, single-flight across processes),
 * in the order given. Throws ReauthRequiredError (exit 3) when a human must act, TransientError
 * (exit 4) when the provider is unavailable, NotFound (exit 2) for an unknown connection.
 */
export const freshTokens: TokenSource = async (o, conns, opts = {}) => {
  const [
    { readFileSync },
    { findConfigPath },
    { loadKey },
    { openWarden, partsOf },
    { recordValidatedConfig },
    output,
  ] = await Promise.all([
    import('node:fs'),
    import('../config/load.js'),
    import('../store/key.js'),
    import('../warden.js'),
    import('./fast-token.js'),
    import('./output.js'),
  ]);
  const env = process.env;
  const path = findConfigPath({ flag: o.config, env, cwd: process.cwd() });
  const text = readFileSync(path, 'utf8');
  const warden = await openWarden(output.wardenOptions({ config: path }, output.processIo));
  try {
    const out: FreshToken[] = [];
    const record: string[] = [];
    for (const name of conns) {
      const rt = partsOf(warden).connections.get(name);
      if (rt && opts.accept && !opts.accept({ name, config: rt.config, provider: rt.profile.id })) return null;
      const info = await warden.tokenInfo(name);
      const runtime = partsOf(warden).connections.get(name)!;
      out.push({
        connection: name,
        accessToken: info.accessToken,
        tokenType: info.tokenType,
        expiresAt: info.expiresAt,
        account: opts.account
          ? (runtime.config.account ?? (await partsOf(warden).store.getConnection(name))?.account ?? null)
          : null,
      });
      // A static secret comes from the config, never from the store: never served fast.
      if (runtime.config.kind !== 'static') record.push(name);
    }
    // The config was validated and stored tokens served: let the next call take the fast path.
    const key = loadKey(warden.config.key, { baseDir: partsOf(warden).deps.baseDir, env });
    for (const connection of record)
      recordValidatedConfig({ path, text, storeSpec: warden.config.store, key, connection }, env);
    return out;
  } finally {
    await warden.close();
  }
};

export async function runToken(
  o: { config?: string | undefined; conn: string; format?: string; user?: string; host?: string; port?: string },
  io: Io,
  tokens: TokenSource = freshTokens,
): Promise<number> {
  const format = (o.format ?? 'raw') as SaslFormat;
  if (!SASL_FORMATS.includes(format))
    throw new UsageError(`--format must be one of ${SASL_FORMATS.join(', ')} (got "${o.format ?? ''}").`);
  if (format === 'raw' && (o.user !== undefined || o.host !== undefined || o.port !== undefined))
    throw new UsageError('--user, --host and --port only apply to --format xoauth2 or oauthbearer.');
  const port = o.port === undefined ? undefined : Number(o.port);
  if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536))
    throw new UsageError(`--port must be a port number (got "${o.port}").`);
  const [t] = (await tokens(o, [o.conn], { account: format !== 'raw' && o.user === undefined })) ?? [];
  if (!t) return 1;
  if (format === 'raw') {
    io.out(t.accessToken + '\n');
    return 0;
  }
  const user = o.user ?? t.account ?? undefined;
  io.out(saslInitialResponse(format, { token: t.accessToken, user, host: o.host, port, connection: o.conn }) + '\n');
  return 0;
}
