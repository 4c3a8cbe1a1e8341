/**
 * What happens to an open flow nobody answered yet: a reminder after `remind_after` (escalating to
 * the next `notify` channel), a fresh link when the old one expires while the connection still
 * needs its human, and closing a link nobody needs any more. Runs under the orchestrator's
 * per-connection order (docs/architecture.md, "The path of a paste").
 */
import type { ChannelMessage } from '../channels/types.js';
import type { Config } from '../config/schema.js';
import type { Clock } from '../core/clock.js';
import { channelNames } from '../core/errors.js';
import type { EventSink } from '../core/types.js';
import type { ConnectionRecord, FlowRecord, Store } from '../store/types.js';
import { escalate } from './notify.js';
import { isQuiet, type QuietHours } from './quiet-hours.js';
import type { RenewalRow } from './renewal.js';
import type { AskRequest, HumanNeed } from './types.js';

/** A link closer to expiry than this is replaced rather than reminded about. */
const NEARLY_EXPIRED_MS = 60_000;

export interface FollowUpDeps {
  store: Pick<Store, 'getFlow' | 'getConnection' | 'finishFlow' | 'updateFlow'>;
  sink: EventSink;
  channelsConfig: Config['channels'];
  clock: Clock;
  quietHours(connection: string): QuietHours | null;
  needsHuman(connection: string, row: (Pick<ConnectionRecord, 'state'> & RenewalRow) | null, now: number): HumanNeed;
  remindAfter(connection: string): number;
  notify(connection: string): string[];
  /** Open (or replace) the connection's flow and send it (the orchestrator's `ask`). */
  ask(connection: string, req: AskRequest): Promise<FlowRecord>;
  /** Send an open flow through `targets` (the orchestrator's `send`). */
  send(
    flow: FlowRecord,
    targets: string[],
    o: { all: boolean; note?: string; kind?: ChannelMessage['kind'] },
  ): Promise<string[]>;
}

/** Remind, escalate, replace an expired link, or close a link nobody needs; nothing when not due. */
export async function followUpFlow(d: FollowUpDeps, initial: FlowRecord): Promise<void> {
  const { store } = d;
  const flow = (await store.getFlow(initial.id)) ?? initial;
  if (flow.status !== 'open') return;
  const now = d.clock.now();
  const need = d.needsHuman(flow.connection, await store.getConnection(flow.connection), now);
  const expired = flow.expiresAt <= now;
  if (!need && flow.reason !== 'manual') {
    if (expired) await store.finishFlow(flow.id, 'expired', now, 'link expired; no longer needed');
    return;
  }
  if (need === 'predicted' && isQuiet(d.quietHours(flow.connection), now)) return;
  const remindDue = now >= (flow.remindedAt ?? flow.createdAt) + d.remindAfter(flow.connection);
  if (!remindDue && !expired) return;
  const targets = escalate(flow.askedVia, d.notify(flow.connection), remindDue);
  if (expired || flow.expiresAt - now < NEARLY_EXPIRED_MS) {
    if (!need) {
      // A manual flow nobody answered: close it; the human can ask again.
      if (expired) await store.finishFlow(flow.id, 'expired', now, 'link expired');
      return;
    }
    await replaceExpiredLink(d, flow, targets, remindDue);
    return;
  }
  await remind(d, flow, targets, now);
}

async function replaceExpiredLink(
  d: FollowUpDeps,
  flow: FlowRecord,
  targets: string[],
  remindDue: boolean,
): Promise<void> {
  await d.ask(flow.connection, {
    reason: flow.reason ?? 'manual',
    fresh: true,
    via: targets,
    kind: remindDue ? 'reminder' : 'reauth_request',
    note: 'The previous link expired unused; here is a fresh one.',
  });
  await d.sink.emit({
    type: 'reauth_reminded',
    connection: flow.connection,
    message: `Sent a fresh link via ${channelNames(targets, d.channelsConfig)} (the previous one expired unused).`,
    data: { flowId: flow.id, channels: targets },
  });
}

async function remind(d: FollowUpDeps, flow: FlowRecord, targets: string[], now: number): Promise<void> {
  await d.store.updateFlow(flow.id, { remindedAt: now });
  const newcomers = targets.filter((c) => !flow.askedVia.includes(c));
  const asked = targets.filter((c) => flow.askedVia.includes(c));
  if (asked.length) await d.send(flow, asked, { all: true, kind: 'reminder' });
  if (newcomers.length) await d.send((await d.store.getFlow(flow.id)) ?? flow, newcomers, { all: true });
  const escalated = newcomers.length ? ` (escalated to ${channelNames(newcomers, d.channelsConfig)})` : '';
  await d.sink.emit({
    type: 'reauth_reminded',
    connection: flow.connection,
    message: `Reminded via ${channelNames(targets, d.channelsConfig)}${escalated}.`,
    data: { flowId: flow.id, channels: targets, escalatedTo: newcomers },
  });
}
