/**
 * The renewal plan of one connection from its row: the single function behind `status`, the
 * dashboard, the HTTP API, MCP and the scheduler, so they all show and follow the same time.
 */
import type { ConnectionConfig } from '../config/schema.js';
import { applicableLifetimeMs } from '../keeper/learned.js';
import type { LearnedLifetime } from '../store/types.js';
import { parseQuietHours, plannedRenewalAt, type QuietHours } from './quiet-hours.js';

export interface RenewalRow {
  refreshExpiresAt: number | null;
  grantedAt: number | null;
  lifetime?: LearnedLifetime | null | undefined;
}

/** When the renewal flow opens (null: no predicted death), taking a learned lifetime into account. */
export function renewalPlanFor(
  conn: Pick<ConnectionConfig, 'kind' | 'reauth_lead' | 'quiet_hours' | 'refresh_token_ttl' | 'app_status'>,
  row: RenewalRow | null,
  quiet: QuietHours | null = conn.quiet_hours ? parseQuietHours(conn.quiet_hours) : null,
): number | null {
  if (!row) return null;
  return plannedRenewalAt(conn, row.refreshExpiresAt, quiet, {
    grantedAt: row.grantedAt,
    learnedLifetimeMs: applicableLifetimeMs(conn, row.lifetime ?? null),
  });
}
