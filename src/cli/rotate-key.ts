/**
 * `tokenwarden rotate-key`: re-seal every secret in the store under a new 32-byte key, in one
 * transaction, and swap the key file keeping the old one as a backup (RFC 9700 §4 spirit: keys
 * are rotatable without re-authorizing anyone). SQLite stores with a `file:` key.
 *
 * Order (each step survives a crash):
 *  1. the new key is written to `<key>.new` (0600, never overwriting);
 *  2. every sealed value (connection tokens, flow verifiers/device codes/nonces, queued mail,
 *     the key-check record) is opened with the old key and sealed with the new one, with the
 *     same associated data, in one `BEGIN IMMEDIATE` transaction — all or nothing;
 *  3. `<key>` is renamed to `<key>.bak-<timestamp>` and `<key>.new` to `<key>`.
 * If a crash lands between 2 and 3, running `rotate-key` again finds `<key>.new` opening the
 * store and finishes the swap.
 *
 * Stop the daemon (and every process using the store) first: a process still holding the old
 * key in memory would fail to open values sealed under the new one. A running daemon's lease
 * in the store makes this command refuse.
 */
import { existsSync, readFileSync, renameSync } from 'node:fs';
import Database from 'better-sqlite3';
import { fileModeWarnings } from '../config/file-modes.js';
import { findConfigPath, loadConfigFile } from '../config/load.js';
import { KeyError, UsageError } from '../core/errors.js';
import { decodeKey, keyFilePath, loadKey, writeKeyFile } from '../store/key.js';
import { openStore } from '../store/open-store.js';
import { createSealer } from '../store/seal.js';
import type { Sealer } from '../store/types.js';
import { runningDaemon } from './daemon-lease.js';
import { jsonLine, type Io } from './output.js';

export interface RotateKeyOptions {
  config?: string;
  json?: boolean;
}

/** Sealed columns per table: [table, row key column, sealed columns]. */
const SEALED: ReadonlyArray<readonly [string, string, readonly string[]]> = [
  ['connections', 'name', ['access_token', 'refresh_token', 'id_token']],
  ['flows', 'id', ['code_verifier', 'device_code', 'nonce']],
  ['outbox', 'id', ['payload']],
  ['meta', 'key', ['value']],
];

/** Re-seal every secret of the SQLite file from `from` to `to` in one transaction; returns how many values. */
export function resealSqlite(file: string, from: Sealer, to: Sealer): number {
  const db = new Database(file, { timeout: 10_000, fileMustExist: true });
  try {
    let n = 0;
    db.transaction(() => {
      for (const [table, keyCol, columns] of SEALED) {
        const rows = db
          .prepare(
            `SELECT ${keyCol} AS k, ${columns.join(', ')} FROM ${table}${table === 'meta' ? ` WHERE key = 'key_check'` : ''}`,
          )
          .all() as Array<Record<string, string | null>>;
        const update = db.prepare(
          `UPDATE ${table} SET ${columns.map((c) => `${c} = ?`).join(', ')} WHERE ${keyCol} = ?`,
        );
        for (const r of rows) {
          const values = columns.map((c) => {
            const v = r[c];
            if (v === null || v === undefined) return null;
            const ad = `${table}:${String(r['k'])}:${c}`;
            n++;
            return to.seal(from.open(v, ad), ad);
          });
          update.run(...values, r['k']);
        }
      }
    }).immediate();
    return n;
  } finally {
    db.close();
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
  if (!url.startsWith('sqlite:') || url === 'sqlite::memory:')
    throw new UsageError(
      'rotate-key supports SQLite stores (sqlite:PATH); for PostgreSQL, migrate to SQLite, rotate, and migrate back',
    );
  const storeOpts = { keySpec: spec, baseDir: loaded.baseDir };
  const file = (await import('node:path')).resolve(loaded.baseDir, url.slice('sqlite:'.length).replace(/^\/\//, ''));
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
  // Prove the old key opens the store (and migrate it) before touching anything; and that no
  // daemon holds it (it would keep sealing with the old key and fail to open the new values).
  const before = await openStore(url, { ...storeOpts, key: oldKey });
  try {
    const daemon = await runningDaemon(before, Date.now());
    if (daemon)
      throw new UsageError(
        `a daemon is running on this store (${daemon.owner}); stop it first (e.g. systemctl stop tokenwarden), then run rotate-key again. Nothing was changed.`,
      );
  } finally {
    await before.close();
  }
  const newKey = writeKeyFile(pending);
  const count = resealSqlite(file, createSealer(oldKey), createSealer(newKey));
  renameSync(keyPath, backup);
  renameSync(pending, keyPath);
  // Read everything back under the new key.
  const check = await openStore(url, { ...storeOpts, key: newKey });
  try {
    await check.listConnections();
    await check.listFlows({ limit: 1_000_000 });
    await check.listMessages({ limit: 1_000_000 });
  } finally {
    await check.close();
  }
  io.out(
    o.json
      ? jsonLine({ rotated: true, values: count, backup })
      : `re-sealed ${count} secret values under a new key; old key kept as ${backup} (delete it once backups made with it have expired)\n`,
  );
  return 0;
}
