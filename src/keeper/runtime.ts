/** What the keeper knows about one configured connection: its config, profile and a lazy grant client. */
import type { ConnectionConfig } from '../config/schema.js';
import type { GrantClient } from '../oauth/types.js';
import type { ProviderProfile } from '../providers/types.js';

export interface ConnectionRuntime {
  name: string;
  /** Position in the config (0-based): per-connection state (token cache, scheduler) lives in arrays at this index. */
  index: number;
  config: ConnectionConfig;
  profile: ProviderProfile;
  /** Built on first use (discovery may need the network): keeps `token` cold start light. */
  client(): Promise<GrantClient>;
}
