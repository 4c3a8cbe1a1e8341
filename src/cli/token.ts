/**
 * `tokenwarden token <conn>`: prints only the access token (or a SASL initial response built
 * from it) on stdout; facts on stderr; exit 3 when a human must act.
 *
 * `freshTokens` is the one path every "hand a token to another program" command takes
 * (`token`, `git-credential get`, `exec`): a speed-up here speeds up all three.
 */
import type { ConnectionConfig } from '../config/schema.js';
import { UsageError } from '../core/errors.js';
import { saslInitialResponse, SASL_FORMATS, type SaslFormat } from '../integrations/sasl.js';
import type { ProviderProfile } from '../providers/types.js';
import { readFileSync } from 'node:fs';
import { findConfigPath } from '../config/load.js';
import { loadKey } from '../store/key.js';
import { openWarden } from '../warden.js';
import { recordValidatedConfig } from './fast-token.js';
import { processIo, wardenOptions, type Io } from './output.js';

export interface FreshToken {
  connection: string;
  accessToken: string;
  tokenType: string;
  expiresAt: number | null;
  provider: ProviderProfile['id'];
  config: ConnectionConfig;
  /** The account identity (the configured `account`, else the one seen at authorization); only when asked for. */
  account: string | null;
}

export interface FreshTokenOptions {
  /** Decide from the connection's config whether to fetch at all (false: nothing is fetched, null returned). */
  accept?: (c: { name: string; config: ConnectionConfig; provider: ProviderProfile['id'] }) => boolean;
  /** Also look up the account identity. */
  account?: boolean;
}

/**
 * Fresh access tokens for `conns` (refreshed ahead of expiry, single-flight across processes),
 * in the order given. Throws ReauthRequiredError (exit 3) when a human must act, TransientError
 * (exit 4) when the provider is unavailable, NotFound (exit 2) for an unknown connection.
 */
export async function freshTokens(
  o: { config?: string },
  conns: string[],
  opts: FreshTokenOptions = {},
): Promise<FreshToken[] | null> {
  const env = process.env;
  const path = findConfigPath({ flag: o.config, env, cwd: process.cwd() });
  const text = readFileSync(path, 'utf8');
  const warden = await openWarden(wardenOptions({ config: path }, processIo));
  try {
    const out: FreshToken[] = [];
    for (const name of conns) {
      const rt = warden.connections.get(name);
      if (rt && opts.accept && !opts.accept({ name, config: rt.config, provider: rt.profile.id })) return null;
      const info = await warden.tokenInfo(name);
      const runtime = warden.connections.get(name)!;
      out.push({
        connection: name,
        accessToken: info.accessToken,
        tokenType: info.tokenType,
        expiresAt: info.expiresAt,
        provider: runtime.profile.id,
        config: runtime.config,
        account: opts.account
          ? (runtime.config.account ?? (await warden.store.getConnection(name))?.account ?? null)
          : null,
      });
    }
    // The config was validated and stored tokens served: let the next call take the fast path
    // (fast-token.ts). A static secret comes from the config, never from the store.
    const key = loadKey(warden.config.key, { baseDir: warden.deps.baseDir, env });
    for (const t of out)
      if (t.config.kind !== 'static')
        recordValidatedConfig({ path, text, storeSpec: warden.config.store, key, connection: t.connection }, env);
    return out;
  } finally {
    await warden.close();
  }
}

export async function runToken(
  o: { config?: string; conn: string; format?: string; user?: string; host?: string; port?: string },
  io: Io,
): Promise<number> {
  const format = (o.format ?? 'raw') as SaslFormat;
  if (!SASL_FORMATS.includes(format))
    throw new UsageError(`--format must be one of ${SASL_FORMATS.join(', ')} (got "${o.format ?? ''}").`);
  if (format === 'raw' && (o.user !== undefined || o.host !== undefined || o.port !== undefined))
    throw new UsageError('--user, --host and --port only apply to --format xoauth2 or oauthbearer.');
  const port = o.port === undefined ? undefined : Number(o.port);
  if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536))
    throw new UsageError(`--port must be a port number (got "${o.port}").`);
  const [t] = (await freshTokens(o, [o.conn], { account: format !== 'raw' && o.user === undefined })) ?? [];
  if (!t) return 1;
  if (format === 'raw') {
    io.out(t.accessToken + '\n');
    return 0;
  }
  const user = o.user ?? t.account ?? undefined;
  io.out(saslInitialResponse(format, { token: t.accessToken, user, host: o.host, port, connection: o.conn }) + '\n');
  return 0;
}
