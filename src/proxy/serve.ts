/** The daemon's side of the proxies: start them from a warden (kept out of src/cli/serve.ts). */
import type { MailService } from '../mail/service.js';
import type { Warden } from '../warden.js';
import { startProxies, type RunningProxies } from './index.js';

export type { RunningProxies } from './index.js';

export async function startWardenProxies(warden: Warden, mail: MailService | undefined): Promise<RunningProxies> {
  if (Object.keys(warden.config.proxies).length === 0) return { list: [], close: async () => undefined };
  return startProxies({
    config: warden.config,
    mail,
    tokens: {
      accessToken: (c) => warden.accessToken(c),
      forceRefresh: (c) => warden.keeper.forceRefresh(c),
    },
    openFlows: (c) => warden.store.listOpenFlows(c),
    clock: warden.deps.clock,
    logger: warden.deps.logger,
    baseDir: warden.deps.baseDir,
  });
}
