/** Leader leases of {@link PostgresStore} (one Telegram poller per bot, one flow opener per connection). */
import type { PgRows } from './outbox.js';

export async function acquireLease(
  rows: PgRows,
  key: string,
  owner: string,
  ttlMs: number,
  now: number,
): Promise<boolean> {
  // A concurrent insert of the same key waits for the first to commit, then takes the
  // DO UPDATE branch, whose WHERE sees the committed holder.
  const won = await rows(
    `INSERT INTO leases (key, owner, until) VALUES ($1, $2, $3)
     ON CONFLICT (key) DO UPDATE SET owner = EXCLUDED.owner, until = EXCLUDED.until
     WHERE leases.owner = EXCLUDED.owner OR leases.until <= $4
     RETURNING key`,
    [key, owner, now + ttlMs, now],
  );
  return won.length === 1;
}

export async function releaseLease(rows: PgRows, key: string, owner: string): Promise<void> {
  await rows(`DELETE FROM leases WHERE key = $1 AND owner = $2`, [key, owner]);
}

export async function getLease(rows: PgRows, key: string): Promise<{ owner: string; until: number } | null> {
  const [row] = await rows<{ owner: string; until: number }>(`SELECT owner, until FROM leases WHERE key = $1`, [key]);
  return row ? { owner: row.owner, until: row.until } : null;
}
