/**
 * tokenwarden — the library entry point. See README.md and docs/.
 */
export * from './core/errors.js';
export type * from './core/types.js';
export type { Clock } from './core/clock.js';
export { systemClock, FakeClock } from './core/clock.js';
export type { Config, ConnectionConfig, ChannelConfig, MailboxConfig } from './config/schema.js';
export type * from './store/types.js';
