/** Builds a channel from its config entry (the composition root calls this once per channel). */
import type { ChannelConfig } from '../config/schema.js';
import { createConsoleChannel } from './console.js';
import { createEmailChannel } from './email.js';
import { createNtfyChannel } from './ntfy.js';
import { createSlackChannel } from './slack.js';
import { createTelegramChannel } from './telegram.js';
import type { Channel, ChannelDeps } from './types.js';
import { createWebhookChannel } from './webhook.js';

export function createChannel(name: string, cfg: ChannelConfig, deps: ChannelDeps): Channel {
  switch (cfg.type) {
    case 'telegram':
      return createTelegramChannel(name, cfg, deps);
    case 'ntfy':
      return createNtfyChannel(name, cfg, deps);
    case 'webhook':
      return createWebhookChannel(name, cfg, deps);
    case 'slack':
      return createSlackChannel(name, cfg, deps);
    case 'email':
      return createEmailChannel(name, cfg, deps);
    case 'console':
      return createConsoleChannel(name, deps);
  }
}
