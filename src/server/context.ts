/**
 * What every HTTP route receives: the warden (the root), the orchestrator, auth settings and
 * the clock. Routes call actions (src/actions/) and render their answers.
 */
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { MailService } from '../mail/index.js';
import type { HealthWatch } from '../daemon/health-watch.js';
import type { Orchestrator } from '../reauth/types.js';
import type { RequestReauthDeps } from '../actions/request-reauth.js';
import type { Warden } from '../warden.js';

export interface ServerContext {
  warden: Warden;
  orchestrator: Orchestrator;
  /** Bearer key for /api/* (null: API disabled). */
  apiKey: string | null;
  clock: Clock;
  logger: Logger;
  /** Where the human's browser reaches this server (public_url or http://listen). */
  baseUrl: string;
  /** More host names this server answers to besides loopback names and baseUrl's host (the listen host). */
  hosts?: string[] | undefined;
  /** The mail service when mailboxes are configured (absent: mail routes answer 404). */
  mail?: MailService | undefined;
  /** The daemon's health watch, once started (absent: `/healthz` reports the store only). */
  readonly health?: HealthWatch | undefined;
}

/** What the request-reauth action needs here: the daemon's orchestrator asks. */
export function reauthDeps(ctx: ServerContext): RequestReauthDeps {
  return {
    asker: ctx.orchestrator,
    channels: ctx.warden.config.channels,
  };
}
