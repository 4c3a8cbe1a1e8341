/**
 * Key rotation at scale: `Store.reseal` over 100,000 connections (two sealed tokens each), on
 * SQLite and on a throwaway PostgreSQL. Reports the time, the peak JS heap during the re-seal
 * and the process's max RSS; memory should stay flat because rows are read a page at a time.
 * For comparison on SQLite, the heap of listing every decrypted connection at once.
 *
 *   node --expose-gc --import tsx bench/reseal.ts [connections=100000] [--tmp-dir DIR]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import Database from 'better-sqlite3';
import pg from 'pg';

import { aad } from '../src/store/codec.js';
import { openStore } from '../src/store/open-store.js';
import { createSealer } from '../src/store/seal.js';
import type { Store } from '../src/store/types.js';
import { startPostgres } from '../test/peers/postgres.js';
import { loadMeter } from './lib/pairs.js';
import { writeResult } from './lib/report.js';

const args = process.argv.slice(2);
const tmpFlag = args.indexOf('--tmp-dir');
const tmpBase = tmpFlag >= 0 ? (args[tmpFlag + 1] as string) : tmpdir();
const count = Number(args.find((a, i) => /^\d+$/.test(a) && args[i - 1] !== '--tmp-dir') ?? 100_000);
const oldKey = Buffer.alloc(32, 1);
const newKey = Buffer.alloc(32, 2);
const sealer = createSealer(oldKey);
const BATCH = 10_000;

/** One batch of rows: names and their two sealed tokens. */
function batch(from: number): { names: string[]; access: string[]; refresh: string[] } {
  const names: string[] = [];
  const access: string[] = [];
  const refresh: string[] = [];
  for (let i = from; i < Math.min(from + BATCH, count); i++) {
    const name = `conn-${String(i).padStart(6, '0')}`;
    names.push(name);
    access.push(sealer.seal(`ya29.${'a'.repeat(180)}${i}`, aad('connections', name, 'access_token')));
    refresh.push(sealer.seal(`1//${'r'.repeat(100)}${i}`, aad('connections', name, 'refresh_token')));
  }
  return { names, access, refresh };
}

const rows: string[] = [];
const data: Array<Record<string, unknown>> = [];
const load = loadMeter();

async function measure(label: string, fn: () => Promise<number>): Promise<void> {
  global.gc?.();
  const before = process.memoryUsage().heapUsed;
  let peak = before;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().heapUsed)), 5);
  const t0 = performance.now();
  const n = await fn();
  const ms = performance.now() - t0;
  clearInterval(timer);
  peak = Math.max(peak, process.memoryUsage().heapUsed);
  const mb = (b: number): number => Math.round(b / 1e6);
  const rss = Math.round(process.resourceUsage().maxRSS / 1024);
  rows.push(
    `| ${label} | ${n.toLocaleString('en')} | ${(ms / 1000).toFixed(1)} s | ${mb(before)} → **${mb(peak)} MB** | ${rss} MB |`,
  );
  data.push({ label, rows: n, ms: Math.round(ms), heapBeforeMB: mb(before), heapPeakMB: mb(peak), maxRssMB: rss });
}

const dir = mkdtempSync(join(tmpBase, 'tw-bench-reseal-'));
try {
  const url = `sqlite:${join(dir, 'state.db')}`;
  const open = (key: Buffer): Promise<Store> => openStore(url, { key, keySpec: 'bench', baseDir: dir });
  await (await open(oldKey)).close();
  const db = new Database(join(dir, 'state.db'));
  const insert = db.prepare(
    `INSERT INTO connections (name, state, version, access_token, refresh_token, failure_count, created_at, updated_at)
     VALUES (?, 'healthy', 1, ?, ?, 0, 0, 0)`,
  );
  for (let from = 0; from < count; from += BATCH) {
    const b = batch(from);
    db.transaction(() => b.names.forEach((n, i) => insert.run(n, b.access[i], b.refresh[i])))();
  }
  db.close();
  const lister = await open(oldKey);
  await measure('SQLite: every connection read and decrypted at once (`listConnections`), for comparison', async () => {
    const all = await lister.listConnections();
    return all.length;
  });
  await lister.close();
  const store = await open(oldKey);
  await measure('SQLite: `Store.reseal` to a new key', () => store.reseal(createSealer(newKey)));
  await store.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const peer = await startPostgres();
try {
  const url = await peer.createDatabase('bench');
  const open = (key: Buffer): Promise<Store> => openStore(url, { key, keySpec: 'bench', baseDir: '/' });
  await (await open(oldKey)).close();
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  for (let from = 0; from < count; from += BATCH) {
    const b = batch(from);
    await c.query(
      `INSERT INTO connections (name, state, version, access_token, refresh_token, failure_count, created_at, updated_at)
       SELECT n, 'healthy', 1, a, r, 0, 0, 0 FROM unnest($1::text[], $2::text[], $3::text[]) AS u(n, a, r)`,
      [b.names, b.access, b.refresh],
    );
  }
  await c.end();
  const store = await open(oldKey);
  await measure('PostgreSQL: `Store.reseal` to a new key', () => store.reseal(createSealer(newKey)));
  await store.close();
  const check = await open(newKey);
  const last = `conn-${String(count - 1).padStart(6, '0')}`;
  if (!(await check.getConnection(last))?.refreshToken?.endsWith(String(count - 1)))
    throw new Error('re-sealed value does not open');
  await check.close();
} finally {
  await peer.stop();
}

writeResult(
  'key-rotation',
  `node --expose-gc --import tsx bench/reseal.ts ${count}${tmpFlag >= 0 ? ` --tmp-dir ${tmpBase}` : ''}`,
  [
    `${count.toLocaleString('en')} connections with two sealed tokens each, re-sealed from one key to another (what \`tokenwarden rotate-key\` runs); rows are read a page at a time, so the heap should stay flat. For comparison, the heap of reading every decrypted connection at once. One run, ${load.end()}; the PostgreSQL server is a throwaway local cluster.`,
    '',
    '| | rows or sealed values | time | JS heap before → peak | max RSS of the process so far |',
    '|---|---|---|---|---|',
    ...rows,
  ].join('\n'),
  data,
);
