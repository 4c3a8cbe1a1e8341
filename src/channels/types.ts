/**
 * Channels reach the human. One-way channels only send; two-way channels
 * (`telegram`) also carry the human's paste back to a {@link PasteHandler}.
 *
 * A message carries links and user codes only: never an access or refresh token.
 */
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';

export type ChannelMessageKind = 'reauth_request' | 'reminder' | 'recovered' | 'expiring' | 'probe_failed' | 'info';

export interface ChannelMessage {
  kind: ChannelMessageKind;
  /** Connection name the message is about. */
  connection: string;
  title: string;
  /** What to do now (the link, code and expiry are rendered from their own fields). */
  text: string;
  /** What happened, in one sentence (the diagnosed cause). */
  cause?: string;
  /** What to change so it does not happen again, when there is something to change. */
  fix?: string;
  /** What still works meanwhile (routes that do not depend on this connection). */
  fallbacks?: string[];
  /** Authorization link (or verification URI) the human should open. */
  url?: string;
  /** Device-flow user code to type at `url`. */
  userCode?: string;
  /** When the link/code stops working (epoch ms). */
  expiresAt?: number;
  flowId?: string;
  /** One sentence for a one-way channel's human: where to paste the address the browser ends on. */
  pasteHint?: string;
}

/** What a two-way channel received from an allow-listed sender. */
export interface IncomingPaste {
  /** Channel name (config key). */
  channel: string;
  /** Sender id as a string (Telegram user id). */
  sender: string;
  /** Message text, with URLs hidden behind formatted links appended on their own lines. */
  text: string;
  chatId?: string;
  /** Channel-specific id of the message that carried the paste. */
  messageRef?: string;
  /** Epoch ms the channel received it (the clock's time, for latency measurements). */
  receivedAt: number;
}

export interface PasteResult {
  ok: boolean;
  /** Short answer shown to the human in the chat. */
  reply: string;
  /** Delete the message that carried the code (it is consumed). */
  deleteMessage?: boolean;
}

export type PasteHandler = (paste: IncomingPaste) => Promise<PasteResult>;

export interface Channel {
  readonly name: string;
  readonly type: string;
  readonly twoWay: boolean;
  /** Deliver a message; resolves with the channel's id of the sent message where it has one. */
  send(msg: ChannelMessage): Promise<{ messageRef?: string }>;
  /** Two-way only: start listening and hand pastes to the handler. Resolves once the loop runs. */
  start?(handler: PasteHandler, opts?: { signal?: AbortSignal }): Promise<void>;
  /** Two-way only: stop listening; resolves when the loop has ended. */
  stop?(): Promise<void>;
  /**
   * A cheap check that the channel can deliver (Telegram: the bot token and the chat; HTTP
   * channels: the server answers), without sending anything. Throws ChannelError saying why.
   */
  check?(): Promise<void>;
  /** Two-way only: true while this process is the one receiving pastes. */
  readonly listening?: boolean;
}

/** Leader-only work (one getUpdates poller per bot), held as a lease by the store. */
export interface LeaderLease {
  /** Acquire or renew the lease; false when another process holds it. */
  acquire(): Promise<boolean>;
  release(): Promise<void>;
}

/** Everything a channel receives from the composition root. */
export interface ChannelDeps {
  fetch?: typeof fetch;
  clock: Clock;
  logger: Logger;
  /** Sends plain-text mail through a mailbox's non-OAuth route (the `email` channel needs it). */
  sendMail?: (to: string, subject: string, text: string) => Promise<void>;
  /** Listener failures that need a human's attention (e.g. another process polls the bot). */
  onError?: (err: Error) => void;
  /** When given, a two-way channel only listens while holding this lease. */
  leader?: LeaderLease;
  /** Where the console channel writes (default: process.stderr). */
  writeStderr?: (text: string) => void;
  /** Per-request timeout for HTTP sends (default 10 s). */
  sendTimeoutMs?: number;
  /** Randomness for backoff jitter (default Math.random). */
  random?: () => number;
}
