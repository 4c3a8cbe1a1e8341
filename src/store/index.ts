/**
 * Storage (docs/architecture.md, store/): the {@link Store} interface, its SQLite implementation, the
 * sealing of secrets at rest and the encryption key.
 */
export type * from './types.js';
export { connectionPages, CONNECTION_PAGE_ROWS } from './paging.js';
export { openStore, type OpenStoreOptions, type PostgresModule } from './open-store.js';
export { createSealer, isSealed, KEY_BYTES } from './seal.js';
export {
  checkKeyFileMode,
  decodeKey,
  generateKey,
  keyFilePath,
  loadKey,
  writeKeyFile,
  type LoadKeyOptions,
} from './key.js';
export { SqliteStore, SCHEMA_VERSION, type SqliteStoreOptions } from './sqlite/index.js';
