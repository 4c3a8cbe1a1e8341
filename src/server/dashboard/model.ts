/** What one dashboard render shows, gathered from the warden (and mail, when present). */
import type { WardenEvent } from '../../core/types.js';
import type { MailboxStatus } from '../../mail/index.js';
import { connectionView, type ConnectionView } from '../connection-view.js';
import type { ServerContext } from '../context.js';

export interface DashboardModel {
  now: number;
  connections: Array<ConnectionView & { recent: WardenEvent[] }>;
  timeline: WardenEvent[];
  /** null: the server runs without mail. */
  mailboxes: MailboxStatus[] | null;
  mailError: string | null;
}

export async function loadModel(ctx: ServerContext): Promise<DashboardModel> {
  const now = ctx.clock.now();
  const { warden } = ctx;
  const [statuses, timeline] = await Promise.all([
    warden.status(),
    warden.store.listEvents({ newestFirst: true, limit: 40 }),
  ]);
  const connections = await Promise.all(
    statuses.map(async (s) => ({
      ...connectionView(s, now, warden.config),
      recent: await warden.store.listEvents({ connection: s.name, newestFirst: true, limit: 3 }),
    })),
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
