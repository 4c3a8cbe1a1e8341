/**
 * One racer in the multi-process lease test (sqlite.test.ts), run as
 * `node --import tsx lease-race-worker.ts <db> <owner> <wins> <markerDir>` with the key in
 * TW_TEST_KEY. It opens the store, prints `ready`, waits for a line on stdin (so all racers
 * start together), then takes the refresh lease of connection `shared` until it has won
 * `wins` times; each time, under the lease, it:
 * - creates `<markerDir>/holder` exclusively (O_EXCL) and removes it before releasing, so two
 *   simultaneous holders are caught directly;
 * - increments a counter kept in a sealed column with a read-modify-write, writing with
 *   `leaseOwner` and `expectVersion`, so any overlap shows up as a ConflictError or a lost update.
 * Prints one JSON line: { wins, conflicts, overlaps, misses }.
 */
import { closeSync, openSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import { openStore } from '../../../src/store/open-store.js';

const [dbPath, owner, winsArg, markerDir] = process.argv.slice(2);
if (!dbPath || !owner || !winsArg || !markerDir) throw new Error('usage: <db> <owner> <wins> <markerDir>');
const target = Number(winsArg);
const marker = join(markerDir, 'holder');

const store = await openStore(`sqlite:${dbPath}`, {
  key: Buffer.from(process.env['TW_TEST_KEY'] ?? '', 'base64'),
  keySpec: 'env:TW_TEST_KEY',
  baseDir: '/',
});
await store.ensureConnection('shared', Date.now());
process.stdout.write('ready\n');
await new Promise((resolve) => process.stdin.once('data', resolve));
process.stdin.pause();

let wins = 0;
let conflicts = 0;
let overlaps = 0;
let misses = 0;
while (wins < target) {
  const row = await store.acquireRefreshLease('shared', owner, 10_000, Date.now());
  if (!row) {
    misses++;
    await new Promise((r) => setImmediate(r));
    continue;
  }
  let markerHeld = false;
  try {
    closeSync(openSync(marker, 'wx'));
    markerHeld = true;
  } catch {
    overlaps++;
  }
  try {
    // Re-read under the lease, as the keeper does, then write back.
    const current = await store.getConnection('shared');
    const count = Number(current?.accessToken ?? '0');
    // Widen the critical section a little so the others, back from SQLite's busy back-off,
    // really find the lease taken. Correctness never depends on this pause.
    await new Promise((r) => setTimeout(r, 2));
    await store.updateConnection(
      'shared',
      { accessToken: String(count + 1), lastError: owner },
      { now: Date.now(), leaseOwner: owner, expectVersion: row.version },
    );
    wins++;
  } catch {
    conflicts++;
  } finally {
    if (markerHeld) rmSync(marker);
    await store.releaseRefreshLease('shared', owner);
  }
}
await store.close();
process.stdout.write(JSON.stringify({ wins, conflicts, overlaps, misses }) + '\n');
