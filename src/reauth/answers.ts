/**
 * Answers that cannot be used as they are: a link closed after refused codes, or one answered
 * too late. The orchestrator replaces the link (a fresh one, sent where the human was asked,
 * saying why) or holds the replacement back when refused codes repeat.
 */
import type { Channel } from '../channels/types.js';
import type { Config } from '../config/schema.js';
import type { Clock } from '../core/clock.js';
import { formatDuration } from '../core/duration.js';
import { InputError, channelNames } from '../core/errors.js';
import { needsHuman, type EventSink } from '../core/types.js';
import type { FlowRecord, Store } from '../store/types.js';
import type { CodesRefusedError } from './flows.js';
import { FreshLinkSentError } from './replies.js';
import type { AskRequest } from './types.js';

/** At most one fresh link per connection this often after a link was closed for refused codes. */
export const REFUSED_REPLACEMENT_INTERVAL_MS = 10 * 60_000;

export interface AnswerDeps {
  sink: EventSink;
  store: Pick<Store, 'getConnection' | 'findFlowByState'>;
  clock: Clock;
  config: Pick<Config, 'channels'>;
  /** The long-lived channels (the one an answer came through gets the fresh link too). */
  channels: ReadonlyMap<string, Channel>;
  remindAfter(connection: string): number;
  requestReauth(connection: string, req: AskRequest): Promise<FlowRecord>;
}

/**
 * A link closed after refused codes again within REFUSED_REPLACEMENT_INTERVAL_MS: its
 * replacement is opened (so nothing asks again at once) but not sent; the reminder sends it
 * after `remind_after` unless it is used from the dashboard first.
 */
export async function replaceQuietly(d: AnswerDeps, err: CodesRefusedError): Promise<InputError> {
  const old = err.flow;
  await d.sink.emit({
    type: 'flow_expired',
    connection: old.connection,
    message: `Link for ${old.connection} could not be used: ${err.message} The replacement is held back (refused codes again within ${formatDuration(REFUSED_REPLACEMENT_INTERVAL_MS)}).`,
    data: { flowId: old.id, held: true },
  });
  await d.requestReauth(old.connection, { reason: old.reason ?? 'manual', fresh: true, via: [] });
  const remind = formatDuration(d.remindAfter(old.connection));
  return new InputError(
    `Not accepted: ${err.message.replace(/ A fresh link is needed\.$/, '')} Links closed for refused codes are replaced at most once per ${formatDuration(REFUSED_REPLACEMENT_INTERVAL_MS)}: a new one is open on the dashboard and is sent in ${remind} unless used.`,
    { cause: err },
  );
}

/** The flow an answer names by its `state`, if any. */
export async function latestFlowFor(d: AnswerDeps, text: string): Promise<FlowRecord | null> {
  const state = /[?&#]state=([^&\s#]+)/.exec(text)?.[1];
  return state ? d.store.findFlowByState(decodeURIComponent(state)) : null;
}

/** The human's answer came too late: send a fresh link where they were asked, and say so. */
export async function replaceExpired(
  d: AnswerDeps,
  old: FlowRecord,
  why: string,
  via: string,
  cause: unknown,
): Promise<FreshLinkSentError> {
  await d.sink.emit({
    type: 'flow_expired',
    connection: old.connection,
    message: `Link for ${old.connection} could not be used: ${why}`,
    data: { flowId: old.id, via },
  });
  const row = await d.store.getConnection(old.connection);
  // Healed by another answer since this link was sent: nothing to re-send.
  if (row?.grantedAt != null && row.grantedAt >= old.createdAt && !needsHuman(row.state))
    return new FreshLinkSentError(`${why} Nothing more to do: ${old.connection} is healthy.`, null, cause);
  const targets = [...new Set([...old.askedVia, ...(d.channels.has(via) ? [via] : [])])];
  const fresh = await d.requestReauth(old.connection, {
    reason: old.reason ?? 'manual',
    fresh: true,
    ...(targets.length ? { via: targets } : {}),
    note: `${why.replace(/ A fresh link is needed\.$/, '')} Here is a fresh link.`,
  });
  const where = fresh.askedVia.length ? ` via ${channelNames(fresh.askedVia, d.config.channels)}` : '';
  return new FreshLinkSentError(
    `Not accepted: ${why.replace(/ A fresh link is needed\.$/, '')} A fresh link was sent${where}; it expires in ${formatDuration(fresh.expiresAt - d.clock.now())}.`,
    fresh,
    cause,
  );
}
