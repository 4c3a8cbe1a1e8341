/**
 * Child process of bench/scale.ts: writes N authorized connections into a fresh SQLite store,
 * access tokens expiring uniformly over one lifetime. It runs in its own process so the
 * benchmark's resident memory is tokenwarden's alone, not the seeding's.
 *
 *   tsx bench/scale-seed.ts <dir> <connections> <ttlSeconds> <startMs>   (key in TW_KEY, base64)
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openStore } from '../src/store/open-store.js';
import { createSealer } from '../src/store/seal.js';
import { initialRefreshToken } from '../test/peers/fast-token-endpoint.js';
import { prng, scaleConnectionName } from './scale-common.js';

const [dir, nArg, ttlArg, startArg] = process.argv.slice(2);
if (!dir || !nArg || !ttlArg || !startArg) throw new Error('usage: scale-seed.ts <dir> <connections> <ttl> <startMs>');
const n = Number(nArg);
const ttlMs = Number(ttlArg) * 1000;
const start = Number(startArg);
const key = Buffer.from(process.env['TW_KEY'] ?? '', 'base64');
const rand = prng(42);

// Let the store create its schema, then bulk-insert in one transaction.
await (await openStore('sqlite:state.db', { key, keySpec: 'env:TW_KEY', baseDir: dir })).close();
const sealer = createSealer(key);
const db = new Database(join(dir, 'state.db'));
db.pragma('journal_mode = WAL');
const ins = db.prepare(
  `INSERT INTO connections (name, state, version, access_token, refresh_token, token_type, scope, access_expires_at,
     granted_at, last_refresh_at, last_used_at, failure_count, created_at, updated_at)
   VALUES (?, 'healthy', 1, ?, ?, 'Bearer', 'api', ?, ?, ?, ?, 0, ?, ?)`,
);
db.transaction(() => {
  for (let i = 0; i < n; i++) {
    const name = scaleConnectionName(i);
    // Nothing is due at t=0 (margin is 5 min of a 1 h token): expiries spread over (5 min, 1 lifetime].
    const exp = start + 301_000 + Math.floor(rand() * (ttlMs - 301_000));
    ins.run(
      name,
      sealer.seal(`at.${name}.0.${exp}`, `connections:${name}:access_token`),
      sealer.seal(initialRefreshToken(name), `connections:${name}:refresh_token`),
      exp,
      start,
      exp - ttlMs,
      start,
      start,
      start,
    );
  }
})();
db.close();
