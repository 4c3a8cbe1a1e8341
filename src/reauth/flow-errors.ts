/**
 * How a flow can end badly, as errors the orchestrator and the faces react to (a fresh link, a
 * refusal to show), and the notes kept on a flow about refused codes.
 */
import { InputError, ProviderError, TokenwardenError } from '../core/errors.js';
import type { FlowRecord } from '../store/types.js';
import { MAX_REFUSED_CODES } from './flow-types.js';

/** The link was completed with another account than the connection's: refused, nothing stored. */
export class AccountChangeRefusedError extends InputError {}

/** The code or link expired (or was used): the caller should open a fresh flow at once. */
export class FlowExpiredError extends InputError {
  constructor(
    readonly flow: FlowRecord,
    why: string,
    cause?: unknown,
  ) {
    super(`${why} A fresh link is needed.`, { cause });
  }
}

/** The provider refused MAX_REFUSED_CODES codes for one link, which is now closed (a fresh link is rate-limited). */
export class CodesRefusedError extends FlowExpiredError {}

/**
 * The `reason` of a flow opened to switch a connection to `account` (the operator confirmed a
 * refused account change in the dashboard): that flow accepts that one account.
 */
export function accountChangeReason(account: string): string {
  return `account_change:${account}`;
}

/** A submission that joined one in flight: the same outcome, except that only the first asks for a fresh link. */
export function joinedFailure(err: unknown): unknown {
  if (!(err instanceof FlowExpiredError)) return err;
  return new InputError(`Not accepted: ${err.message.replace(/ A fresh link is needed\.$/, '')}`, { cause: err });
}

/** How many codes the provider refused for a flow so far (kept in its outcome note). */
export function refusedCodes(outcome: string | null): number {
  const m = /codes refused: (\d+)\//.exec(outcome ?? '');
  return m ? Number(m[1]) : 0;
}

export function refusedNote(n: number): string {
  return `codes refused: ${n}/${MAX_REFUSED_CODES}`;
}

export function errorLabel(err: unknown): string {
  if (err instanceof ProviderError) return err.error;
  if (err instanceof TokenwardenError) return err.code;
  return 'error';
}
