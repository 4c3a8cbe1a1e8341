/**
 * `tokenwarden migrate --from <store> --to <store> [--force]`: move a store between SQLite and
 * PostgreSQL. The key comes from `--key` or the config's `key:`; relative
 * `sqlite:` paths resolve against the config's folder (or the current one with `--key`).
 * Secrets are copied sealed, never opened on the way.
 */
import { fileModeWarnings } from '../config/file-modes.js';
import { findConfigPath, loadConfigFile } from '../config/load.js';
import { loadKey } from '../store/key.js';
import { transferStore } from '../store/postgres/transfer.js';
import { jsonLine, type Io } from './output.js';

export interface MigrateOptions {
  config?: string;
  from: string;
  to: string;
  key?: string;
  force?: boolean;
  json?: boolean;
}

export async function runMigrate(o: MigrateOptions, io: Io, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let keySpec: string;
  let baseDir: string;
  if (o.key) {
    keySpec = o.key;
    baseDir = process.cwd();
  } else {
    const loaded = loadConfigFile(findConfigPath({ flag: o.config, env, cwd: process.cwd() }), env);
    for (const w of fileModeWarnings({
      ...loaded,
      configPath: loaded.path,
      literalSecrets: loaded.literalSecrets ?? [],
    }))
      io.err(`warning: ${w}\n`);
    keySpec = loaded.config.key;
    baseDir = loaded.baseDir;
  }
  const key = loadKey(keySpec, { baseDir, env, onWarning: (m) => io.err(`warning: ${m}\n`) });
  const counts = await transferStore({ from: o.from, to: o.to, key, keySpec, baseDir, force: o.force ?? false });
  if (o.json) io.out(jsonLine({ migrated: counts }));
  else
    io.out(
      `migrated ${counts.connections} connections, ${counts.flows} flows, ${counts.events} events, ${counts.outbox} outbox messages (secrets still sealed)\n` +
        `point \`store:\` in tokenwarden.yaml at the new store and restart every node\n`,
    );
  return 0;
}
