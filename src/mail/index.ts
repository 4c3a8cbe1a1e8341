/** Mail: durable outbox, route failover with circuits, read fallback. */
export { createMailService } from './service.js';
export type { MailService, MailServiceDeps, MailServiceOptions, MailboxStatus } from './service.js';
export type { Mailbox, SendResult, ListResult } from './mailbox.js';
export type { MailMessage, MailAttachment, Envelope, RawOutgoing } from './message.js';
export {
  prepareOutgoing,
  normaliseMessage,
  deriveIdempotencyKey,
  composeMime,
  stripBcc,
  isValidAddress,
  prepareRaw,
  MAX_RECIPIENTS,
} from './message.js';
export { RouteError, MailInputError, toRouteError } from './errors.js';
export type { FailureKind } from './errors.js';
export { CircuitBreaker } from './circuit.js';
export type { CircuitState, CircuitSnapshot, CircuitOptions } from './circuit.js';
export type { RouteHealth, Direction } from './route-slot.js';
export { retryDelayMs, DEFAULT_RETRY } from './outbox.js';
export type { RetryPolicy, DeliveryOutcome } from './outbox.js';
export * from './routes/index.js';
