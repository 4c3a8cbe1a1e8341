/**
 * Complete a flow from the human's answer (a redirect URL, a URL inside text, a bare code),
 * whichever door it came through: the callback route, the API, the dashboard, a chat, the
 * loopback listener, `connect`'s stdin or `tokenwarden complete`.
 *
 * In the daemon the orchestrator completes (an expired link is replaced at once and sent where
 * the human was asked; refused answers are recorded); a short-lived command completes through
 * the flow service directly and says what failed.
 */
import type { CompletedFlow, FlowService } from '../reauth/flows.js';

export interface FlowCompleter {
  complete(input: string, opts: { via: string; sender?: string }): Promise<CompletedFlow>;
}

/** The flow service as a completer (no fresh link is sent for an expired one). */
export function directCompleter(flows: Pick<FlowService, 'completeFromInput'>): FlowCompleter {
  return { complete: (input, opts) => flows.completeFromInput(input, { via: opts.via }) };
}

/** Exchange the answer, store the grant, close the flow; throws InputError for an answer that does not fit. */
export function completeFlow(
  completer: FlowCompleter,
  input: string,
  opts: { via: string; sender?: string },
): Promise<CompletedFlow> {
  return completer.complete(input, opts);
}
