/** What one dashboard render shows, gathered from the warden (and mail, when present). */
import type { WardenEvent } from '../../core/types.js';
import type { MailboxStatus } from '../../mail/index.js';
import { connectionView, type ConnectionView } from '../../actions/status-view.js';
import type { ServerContext } from '../context.js';
import { partsOf } from '../../warden.js';

export interface DashboardModel {
  now: number;
  connections: Array<ConnectionView & { recent: WardenEvent[]; refusedChange: RefusedChange | null }>;
  timeline: WardenEvent[];
  /** null: the server runs without mail. */
  mailboxes: MailboxStatus[] | null;
  mailError: string | null;
}

/** A re-authorization refused because another account completed it, not yet followed by a completion. */
export interface RefusedChange {
  flowId: string;
  belongsTo: string;
  completedAs: string;
}

/** The latest refused account change among `events` (newest first) that no later completion superseded. */
export function refusedChangeIn(events: WardenEvent[]): RefusedChange | null {
  for (const e of events) {
    if (e.type === 'reauth_completed') return null;
    if (e.type !== 'account_change_refused') continue;
    const d = e.data ?? {};
    const [flowId, belongsTo, completedAs] = [d['flowId'], d['belongsTo'], d['completedAs']];
    return typeof flowId === 'string' && typeof belongsTo === 'string' && typeof completedAs === 'string'
      ? { flowId, belongsTo, completedAs }
      : null;
  }
  return null;
}

export async function loadModel(ctx: ServerContext): Promise<DashboardModel> {
  const now = ctx.clock.now();
  const { warden } = ctx;
  const [statuses, timeline] = await Promise.all([
    warden.status(),
    partsOf(warden).store.listEvents({ newestFirst: true, limit: 40 }),
  ]);
  const connections = await Promise.all(
    statuses.map(async (s) => {
      const events = await partsOf(warden).store.listEvents({ connection: s.name, newestFirst: true, limit: 10 });
      return {
        ...connectionView(s, now),
        recent: events.slice(0, 3),
        refusedChange: refusedChangeIn(events),
      };
    }),
  );
  let mailboxes: MailboxStatus[] | null = null;
  let mailError: string | null = null;
  if (ctx.mail) {
    try {
      mailboxes = await ctx.mail.status();
    } catch (err) {
      mailboxes = [];
      mailError = err instanceof Error ? err.message : String(err);
    }
  }
  return { now, connections, timeline, mailboxes, mailError };
}
