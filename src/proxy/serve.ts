/** The daemon's side of the proxies: start them from the root's parts (src/daemon.ts). */
import type { Config } from '../config/schema.js';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { AccessTokenInfo } from '../keeper/keeper.js';
import type { MailService } from '../mail/service.js';
import type { Store } from '../store/types.js';
import { startProxies, type RunningProxies } from './index.js';

export type { RunningProxies } from './index.js';

/** What the proxies use: the root's parts (`partsOf(warden)`). */
export interface ProxyServeDeps {
  config: Config;
  store: Pick<Store, 'listOpenFlows'>;
  keeper: { forceRefresh(conn: string): Promise<AccessTokenInfo> };
  accessToken(conn: string): Promise<string>;
  deps: { clock: Clock; logger: Logger; baseDir: string };
}

export async function startWardenProxies(d: ProxyServeDeps, mail: MailService | undefined): Promise<RunningProxies> {
  if (Object.keys(d.config.proxies).length === 0) return { list: [], close: async () => undefined };
  return startProxies({
    config: d.config,
    mail,
    tokens: {
      accessToken: (c) => d.accessToken(c),
      forceRefresh: (c) => d.keeper.forceRefresh(c),
    },
    openFlows: (c) => d.store.listOpenFlows(c),
    clock: d.deps.clock,
    logger: d.deps.logger,
    baseDir: d.deps.baseDir,
  });
}
