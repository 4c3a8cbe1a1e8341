/**
 * Completing a flow with the tokens it brought: the account is compared with the connection's,
 * the grant is stored, the flow closed and the outcome recorded.
 */
import type { TokenSet } from '../core/types.js';
import type { FlowRecord } from '../store/types.js';
import { compareAccounts, identityOfRow, identityOfTokens } from './account-check.js';
import { AccountChangeRefusedError, accountChangeReason } from './flow-errors.js';
import { runtimeOf, type CompletedFlow, type FlowServiceDeps } from './flow-types.js';

/**
 * The account is checked first (another account than the connection's is refused unless
 * allowed), then tokens (the credential is what matters), then the flow is closed, then the event.
 */
export async function completeWithTokens(
  deps: FlowServiceDeps,
  flow: FlowRecord,
  tokens: TokenSet,
  via: string,
): Promise<CompletedFlow> {
  const { store, clock, events } = deps;
  const rt = runtimeOf(deps, flow.connection);
  const next = await identityOfTokens(rt, tokens, deps.fetch);
  const verdict = compareAccounts(identityOfRow(await store.getConnection(flow.connection)), next);
  const confirmed = verdict.kind === 'changed' && flow.reason === accountChangeReason(verdict.to);
  if (verdict.kind === 'changed' && !rt.config.allow_account_change && !confirmed)
    await refuseAccountChange(deps, flow, verdict);
  const account = next.label;
  const stored = await deps.keeper.storeGrant(flow.connection, tokens, account ? { account } : {});
  const now = clock.now();
  if (!(await store.finishFlow(flow.id, 'completed', now, `completed via ${via}`)))
    deps.logger.warn('flow was closed meanwhile; the new tokens are stored regardless', { flowId: flow.id });
  if (verdict.kind === 'changed')
    await events.emit({
      type: 'account_changed',
      connection: flow.connection,
      message: `The connection now belongs to ${verdict.to} (was ${verdict.from}); ${confirmed ? 'confirmed in the dashboard' : `allowed by connections.${flow.connection}.allow_account_change`}.`,
      data: { flowId: flow.id, from: verdict.from, to: verdict.to, via },
    });
  const ms = now - flow.createdAt;
  await events.emit({
    type: 'reauth_completed',
    connection: flow.connection,
    message: `Authorized via ${via}${account ? ` as ${account}` : ''}; the connection is healthy.${verdict.kind === 'unknown' ? ` The account could not be compared with the previous one: ${verdict.why}.` : ''}`,
    data: { flowId: flow.id, kind: flow.kind, via, msSinceAsked: ms, accountCheck: verdict.kind },
  });
  return {
    connection: flow.connection,
    flowId: flow.id,
    account,
    kind: flow.kind,
    ...(stored.cause ? { warning: stored.cause } : {}),
  };
}

/** Another account completed the link: nothing is stored, the flow fails, and it is recorded. */
async function refuseAccountChange(
  deps: FlowServiceDeps,
  flow: FlowRecord,
  v: { from: string; to: string },
): Promise<never> {
  const { store, clock, events } = deps;
  await store.finishFlow(
    flow.id,
    'failed',
    clock.now(),
    `refused: completed as ${v.to}, the connection belongs to ${v.from}`,
  );
  await events.emit({
    type: 'account_change_refused',
    connection: flow.connection,
    message: `A re-authorization of ${flow.connection} was completed with account ${v.to}, but the connection belongs to ${v.from}; refused, the stored tokens are unchanged.`,
    data: { flowId: flow.id, belongsTo: v.from, completedAs: v.to },
  });
  throw new AccountChangeRefusedError(
    `Not accepted: this link was completed with account ${v.to}, but ${flow.connection} belongs to ${v.from}; nothing was changed. Ask for a fresh link and sign in as ${v.from}; to switch accounts, confirm the change in the dashboard or set connections.${flow.connection}.allow_account_change: true.`,
  );
}
