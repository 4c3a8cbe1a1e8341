/**
 * Open the store named by the config's `store` URL:
 * `sqlite:PATH` (relative to the config's directory), `:memory:`, or `postgres://…`.
 */
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

import { StoreError } from '../core/errors.js';
import { createSealer } from './seal.js';
import { SqliteStore } from './sqlite/index.js';
import type { Sealer, Store } from './types.js';

export interface OpenStoreOptions {
  /** The 32-byte encryption key (see key.ts). */
  key: Buffer;
  /** How the key was named (`file:…`/`env:…`), for error messages only. */
  keySpec: string;
  /** Directory relative `sqlite:` paths are resolved against (the config file's directory). */
  baseDir: string;
  /** SQLite durability; default `full`. */
  synchronous?: 'full' | 'normal';
}

/** What a PostgreSQL implementation must export from `./postgres/index.ts`. */
export interface PostgresModule {
  openPostgresStore(url: string, opts: { sealer: Sealer; keySpec: string }): Promise<Store>;
}

export async function openStore(url: string, opts: OpenStoreOptions): Promise<Store> {
  const sealer = createSealer(opts.key);
  const sqliteOpts = {
    sealer,
    keySpec: opts.keySpec,
    ...(opts.synchronous === undefined ? {} : { synchronous: opts.synchronous }),
  };
  if (url === ':memory:' || url === 'sqlite::memory:') return SqliteStore.open(':memory:', sqliteOpts);
  if (url.startsWith('sqlite:')) {
    let path = url.slice('sqlite:'.length);
    if (path.startsWith('//')) path = path.slice(2); // sqlite:///abs/path
    if (path === '') throw new StoreError('store sqlite: needs a path, e.g. sqlite:.tokenwarden/state.db');
    const file = resolve(opts.baseDir, path);
    prepareDatabaseFile(file);
    return SqliteStore.open(file, sqliteOpts);
  }
  if (/^postgres(ql)?:\/\//.test(url)) return openPostgres(url, { sealer, keySpec: opts.keySpec });
  // Never echo the URL: it may carry a password.
  throw new StoreError('store must be sqlite:PATH, :memory: or postgres://…');
}

/** Parent directory 0700 (created if missing), database file 0600 (created empty if missing). */
function prepareDatabaseFile(file: string): void {
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    // SQLite gives the -wal and -shm files the main file's permissions.
    closeSync(openSync(file, 'wx', 0o600));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return;
    throw new StoreError(`cannot create SQLite store ${file}: ${code ?? (e as Error).message}`, { cause: e });
  }
}

/**
 * SEAM — PostgreSQL store. Fill it by adding `src/store/postgres/index.ts` exporting
 * {@link PostgresModule.openPostgresStore}; nothing here needs to change. The specifier is a
 * variable so this build type-checks without that folder.
 */
async function openPostgres(url: string, opts: { sealer: Sealer; keySpec: string }): Promise<Store> {
  const specifier = './postgres/index.js';
  let mod: Partial<PostgresModule>;
  try {
    mod = (await import(specifier)) as Partial<PostgresModule>;
  } catch (e) {
    const err = e as Error & { url?: string };
    // Only the seam itself being absent means "not in this build"; a broken import inside it is a real error.
    if (`${err.url ?? ''} ${err.message}`.includes('postgres/index')) {
      throw new StoreError('PostgreSQL store is not available in this build', { cause: e });
    }
    throw new StoreError(`cannot load the PostgreSQL store: ${err.message}`, { cause: e });
  }
  if (typeof mod.openPostgresStore !== 'function') {
    throw new StoreError('PostgreSQL store is not available in this build');
  }
  return mod.openPostgresStore(url, opts);
}
