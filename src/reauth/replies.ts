/** What the human is told when a pasted answer was used or could not be. */
import type { ChannelMessage } from '../channels/types.js';
import { InputError } from '../core/errors.js';
import type { FlowRecord } from '../store/types.js';
import type { CompletedFlow } from './flows.js';

/**
 * The answer could not be used because the code or link had expired (or was used); a fresh
 * link was already sent. The message says why and where the new link went.
 */
export class FreshLinkSentError extends InputError {
  constructor(
    message: string,
    readonly freshFlow: FlowRecord | null,
    cause: unknown,
  ) {
    super(message, { cause });
  }
}

export function acceptedReply(done: CompletedFlow): string {
  const who = done.account ? ` (account ${done.account})` : '';
  if (done.warning)
    return `Accepted: ${done.connection} works now${who}, but ${lowerFirst(done.warning.summary)} Fix: ${done.warning.fix}`;
  return `Accepted: ${done.connection} is healthy again${who}.`;
}

const lowerFirst = (s: string): string => (/^The /.test(s) ? `the ${s.slice(4)}` : s);

/** Told on the channels that asked (not the one the answer came through, which replied in place). */
export function recoveredMessage(connection: string, flow: FlowRecord, account: string | null): ChannelMessage {
  return {
    kind: 'recovered',
    connection,
    title: `${connection} is healthy again`,
    text: `${flow.reason === 'predicted' ? 'Renewed ahead of expiry' : 'Re-authorized'}${account ? ` as ${account}` : ''}; new tokens are stored. Nothing more to do.`,
  };
}
