/**
 * What the orchestrator tells the human besides links: a refused sign-in with another account,
 * a rejected client secret or service-account key (where to rotate it), and a recovery. Sent
 * through the connection's channels; a channel that fails is logged, never fatal.
 */
import type { Channel, ChannelMessage } from '../channels/types.js';
import type { DiagnosedCause } from '../core/errors.js';
import { redact, type Logger } from '../core/logger.js';
import type { WardenEvent } from '../core/types.js';
import type { ConnectionRuntime } from '../keeper/runtime.js';
import type { Store } from '../store/types.js';
import { recoveredMessage } from './replies.js';

export interface NoticeDeps {
  store: Pick<Store, 'getFlow' | 'getConnection'>;
  connections: ReadonlyMap<string, ConnectionRuntime>;
  logger: Logger;
  /** A channel by config name (long-lived, or built on first use). */
  channel(name: string): Promise<Channel>;
}

export async function tell(d: NoticeDeps, channels: string[], msg: ChannelMessage): Promise<void> {
  for (const name of channels) {
    try {
      await (await d.channel(name)).send(msg);
    } catch (err) {
      d.logger.warn('reauth: could not send a notice', {
        connection: msg.connection,
        channel: name,
        error: redact((err as Error).message),
      });
    }
  }
}

/**
 * A client secret or service-account key was refused: tell the human which one and where to
 * rotate it, through the connection's channels (first that accepts, like a link). No flow.
 */
export async function announceRejectedSecret(d: NoticeDeps, connection: string, cause: DiagnosedCause): Promise<void> {
  const rt = d.connections.get(connection);
  if (!rt) return;
  const msg: ChannelMessage = {
    kind: 'probe_failed',
    connection,
    title: `${connection}: ${rt.config.kind === 'service_account' ? 'service-account key' : 'client secret'} rejected`,
    text: `${cause.summary} Fix: ${cause.fix}`,
  };
  for (const name of rt.config.notify) {
    try {
      await (await d.channel(name)).send(msg);
      return;
    } catch (err) {
      d.logger.warn('reauth: could not send the rejected-secret notice', {
        connection,
        channel: name,
        error: redact((err as Error).message),
      });
    }
  }
}

export async function announceRecovery(d: NoticeDeps, e: WardenEvent): Promise<void> {
  const flowId = typeof e.data?.['flowId'] === 'string' ? e.data['flowId'] : null;
  const flow = flowId ? await d.store.getFlow(flowId) : null;
  if (!flow || !e.connection) return;
  const via = typeof e.data?.['via'] === 'string' ? e.data['via'] : '';
  // The channel the answer came through already replied in place.
  const targets = flow.askedVia.filter((c) => c !== via);
  const row = await d.store.getConnection(e.connection);
  const msg = recoveredMessage(e.connection, flow, row?.account ?? null);
  for (const name of targets) {
    try {
      await (await d.channel(name)).send(msg);
    } catch (err) {
      d.logger.warn('reauth: could not send the recovery notice', {
        connection: e.connection,
        channel: name,
        error: redact((err as Error).message),
      });
    }
  }
}
