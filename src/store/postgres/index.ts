/**
 * The PostgreSQL {@link Store} for several nodes sharing credentials.
 * `openPostgresStore` is what open-store.ts's `postgres://` seam loads.
 */
export { openPostgresStore, PostgresStore, type PostgresStoreOptions } from './postgres-store.js';
export { SCHEMA_VERSION as POSTGRES_SCHEMA_VERSION } from './migrations.js';
export { describeTarget } from './errors.js';
