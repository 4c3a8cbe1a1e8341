/** The daemon's side of the proxies: start them from a warden (kept out of src/cli/serve.ts). */
import type { MailService } from '../mail/service.js';
import { partsOf, type Warden } from '../warden.js';
import { startProxies, type RunningProxies } from './index.js';

export type { RunningProxies } from './index.js';

export async function startWardenProxies(warden: Warden, mail: MailService | undefined): Promise<RunningProxies> {
  if (Object.keys(warden.config.proxies).length === 0) return { list: [], close: async () => undefined };
  return startProxies({
    config: warden.config,
    mail,
    tokens: {
      accessToken: (c) => warden.accessToken(c),
      forceRefresh: (c) => partsOf(warden).keeper.forceRefresh(c),
    },
    openFlows: (c) => partsOf(warden).store.listOpenFlows(c),
    clock: partsOf(warden).deps.clock,
    logger: partsOf(warden).deps.logger,
    baseDir: partsOf(warden).deps.baseDir,
  });
}
