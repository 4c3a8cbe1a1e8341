export type {
  Channel,
  ChannelDeps,
  ChannelMessage,
  ChannelMessageKind,
  IncomingPaste,
  LeaderLease,
  PasteHandler,
  PasteResult,
} from './types.js';
export { createChannel } from './create-channel.js';
export { ChannelError } from './errors.js';
export { escapeHtml, escapeSlack, expiresInWords, expiryLine, renderPlain } from './format.js';
export {
  CONFLICT_TEXT,
  REFUSAL_TEXT,
  createTelegramChannel,
  messageText,
  redactBotToken,
  renderTelegramHtml,
  type TelegramChannel,
  type TelegramListenerState,
} from './telegram.js';
export { createNtfyChannel, encodeHeaderValue } from './ntfy.js';
export {
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
  createWebhookChannel,
  signWebhookBody,
  type WebhookPayload,
} from './webhook.js';
export { createSlackChannel, renderSlack, slackLink } from './slack.js';
export { createConsoleChannel } from './console.js';
export { createEmailChannel } from './email.js';
