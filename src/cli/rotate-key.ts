/**
 * `tokenwarden rotate-key`: re-seal every secret in the store under a new 32-byte key, in one
 * transaction, and swap the key file keeping the old one as a backup (RFC 9700 §4 spirit: keys
 * are rotatable without re-authorizing anyone). SQLite and PostgreSQL stores with a `file:` key;
 * the store does the re-sealing ({@link Store.reseal}, driven by the codec's list of sealed
 * columns), this command handles the key files.
 *
 * Order (each step survives a crash):
 *  1. the new key is written to `<key>.new` (0600, never overwriting);
 *  2. the store re-seals every sealed value (connection tokens, flow verifiers/device codes/
 *     nonces, queued mail, the key-check record) from the old key to the new one, in one
 *     transaction — all or nothing;
 *  3. `<key>` is renamed to `<key>.bak-<timestamp>` and `<key>.new` to `<key>`.
 * If a crash lands between 2 and 3, running `rotate-key` again finds `<key>.new` opening the
 * store and finishes the swap.
 *
 * Stop the daemon (and every process using the store) first: a process still holding the old
 * key in memory would fail to open values sealed under the new one. A running daemon's lease
 * in the store makes this command refuse.
 */
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { rotateKey } from '../actions/rotate-key.js';
import { fileModeWarnings } from '../config/file-modes.js';
import { findConfigPath, loadConfigFile } from '../config/load.js';
import { KeyError, StoreError, UsageError } from '../core/errors.js';
import { decodeKey, keyFilePath, loadKey, writeKeyFile } from '../store/key.js';
import { openStore } from '../store/open-store.js';
import { SqliteStore } from '../store/sqlite/index.js';
import type { Sealer } from '../store/types.js';
import { runningDaemon } from '../daemon/lease.js';
import { jsonLine, type Io } from './output.js';

export interface RotateKeyOptions {
  config?: string;
  json?: boolean;
}

/**
 * Re-seal the SQLite store file `file` from `from` to `to` in one transaction (synchronous);
 * returns how many values. Throws KeyError, changing nothing, when `from` does not open it.
 */
export function resealSqlite(file: string, from: Sealer, to: Sealer): number {
  if (!existsSync(file)) throw new StoreError(`SQLite store ${file} does not exist`);
  const store = SqliteStore.open(file, { sealer: from, keySpec: 'the current key', pollMs: 0 });
  try {
    return store.resealNow(to);
  } finally {
    void store.close();
  }
}

export async function runRotateKey(o: RotateKeyOptions, io: Io, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const loaded = loadConfigFile(findConfigPath({ flag: o.config, env, cwd: process.cwd() }), env);
  for (const w of fileModeWarnings({ ...loaded, configPath: loaded.path, literalSecrets: loaded.literalSecrets ?? [] }))
    io.err(`warning: ${w}\n`);
  const { store: url, key: spec } = loaded.config;
  const keyPath = keyFilePath(spec, loaded.baseDir);
  if (!keyPath)
    throw new UsageError(
      'rotate-key needs a file: key (key: file:PATH); for env: keys, write a file key and point key: at it first',
    );
  if (url === ':memory:' || url === 'sqlite::memory:')
    throw new UsageError(
      'rotate-key needs a stored store (sqlite:PATH or postgres://…); an in-memory one has nothing to keep',
    );
  const storeOpts = { keySpec: spec, baseDir: loaded.baseDir };
  const pending = `${keyPath}.new`;
  const backup = `${keyPath}.bak-${new Date().toISOString().replace(/[:.]/g, '-')}`;

  if (existsSync(pending)) {
    // A previous run re-sealed and crashed before the swap? Only if the new key opens the store.
    const newKey = decodeKey(readFileSync(pending, 'utf8'), `file:${pending}`);
    try {
      await (await openStore(url, { ...storeOpts, key: newKey })).close();
    } catch (e) {
      if (!(e instanceof KeyError)) throw e;
      throw new UsageError(
        `${pending} exists but does not open the store: an interrupted rotation before re-sealing; delete it and run rotate-key again`,
      );
    }
    renameSync(keyPath, backup);
    renameSync(pending, keyPath);
    io.out(
      o.json
        ? jsonLine({ rotated: true, resumed: true, backup })
        : `finished an interrupted rotation; old key kept as ${backup}\n`,
    );
    return 0;
  }

  const oldKey = loadKey(spec, { baseDir: loaded.baseDir, env, onWarning: (m) => io.err(`warning: ${m}\n`) });
  // Opening proves the old key opens the store (and migrates it) before anything changes; no
  // daemon may hold it (it would keep sealing with the old key and fail to open the new values).
  const store = await openStore(url, { ...storeOpts, key: oldKey });
  let count: number;
  let newKey: Buffer;
  try {
    const daemon = await runningDaemon(store, Date.now());
    if (daemon)
      throw new UsageError(
        `a daemon is running on this store (${daemon.owner}); stop it first (e.g. systemctl stop tokenwarden), then run rotate-key again. Nothing was changed.`,
      );
    newKey = writeKeyFile(pending);
    // Each new value is opened again before it is written; the key check is re-sealed with the rest.
    count = await rotateKey(store, newKey);
  } finally {
    await store.close();
  }
  renameSync(keyPath, backup);
  renameSync(pending, keyPath);
  // The key file now in place opens the store (key-check record).
  await (await openStore(url, { ...storeOpts, key: newKey })).close();
  io.out(
    o.json
      ? jsonLine({ rotated: true, values: count, backup })
      : `re-sealed ${count} secret values under a new key; old key kept as ${backup} (delete it once backups made with it have expired)\n`,
  );
  return 0;
}
