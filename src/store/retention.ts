/**
 * Event retention: the daemon deletes events older than `events.retention_days` and the oldest
 * beyond `events.max_rows`, once at start and then every hour, on either store engine.
 * Several daemons on one PostgreSQL store each prune; deleting is idempotent.
 */
import type { Clock } from '../core/clock.js';
import { redact, type Logger } from '../core/logger.js';
import type { EventsConfig } from '../config/schema.js';
import type { Store } from './types.js';

export const PRUNE_EVERY_MS = 3600_000;
const DAY_MS = 86_400_000;

export interface EventRetention {
  /** Prune now; resolves with how many events were deleted. */
  pruneNow(): Promise<number>;
  /** Stop the hourly loop (waits for a prune in progress). */
  stop(): Promise<void>;
}

export function startEventRetention(deps: {
  store: Store;
  clock: Clock;
  logger: Logger;
  config: EventsConfig;
  everyMs?: number;
}): EventRetention {
  const { store, clock, logger, config } = deps;
  const every = deps.everyMs ?? PRUNE_EVERY_MS;
  const stopping = new AbortController();
  const pruneNow = async (): Promise<number> => {
    const deleted = await store.pruneEvents({
      before: clock.now() - config.retention_days * DAY_MS,
      keep: config.max_rows,
    });
    if (deleted > 0)
      logger.info('old events pruned', {
        deleted,
        retentionDays: config.retention_days,
        maxRows: config.max_rows,
      });
    return deleted;
  };
  const loop = (async () => {
    while (!stopping.signal.aborted) {
      try {
        await pruneNow();
      } catch (err) {
        logger.warn('event pruning failed; retrying at the next interval', { error: redact((err as Error).message) });
      }
      try {
        await clock.sleep(every, stopping.signal);
      } catch {
        return;
      }
    }
  })();
  return {
    pruneNow,
    async stop() {
      stopping.abort(new Error('stopped'));
      await loop;
    },
  };
}
