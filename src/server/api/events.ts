/** `GET /events?since=<id>&connection=<name>&limit=<n>`: the event log, ascending from `since`. */
import type { Hono } from 'hono';
import { InputError } from '../../core/errors.js';
import type { WardenEvent } from '../../core/types.js';
import type { ServerContext } from '../context.js';
import { eventsQuery } from './schemas.js';
import { partsOf } from '../../warden.js';

export function eventView(e: WardenEvent): Record<string, unknown> {
  return {
    id: e.id,
    at: new Date(e.at).toISOString(),
    type: e.type,
    connection: e.connection,
    message: e.message,
    data: e.data,
  };
}

export function mountEvents(api: Hono, ctx: ServerContext): void {
  api.get('/events', async (c) => {
    const q = eventsQuery.safeParse(c.req.query());
    if (!q.success)
      throw new InputError(
        `Invalid query: ${q.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      );
    const since = q.data.since ?? 0;
    const events = await partsOf(ctx.warden).store.listEvents({
      since,
      limit: q.data.limit ?? 100,
      ...(q.data.connection ? { connection: q.data.connection } : {}),
    });
    return c.json({ events: events.map(eventView), next_since: events.at(-1)?.id ?? since });
  });
}
