/**
 * The human's answer to an authorization-code flow: matched to its flow (full redirect URL, URL
 * inside text, or a bare code when one flow is open), claimed for one exchange across processes,
 * and exchanged; a refused code keeps the link open for a few more tries.
 */
import { randomBytes } from 'node:crypto';
import { InputError, ProviderError } from '../core/errors.js';
import type { TokenSet } from '../core/types.js';
import type { FlowRecord } from '../store/types.js';
import { completeWithTokens } from './flow-complete.js';
import { CodesRefusedError, FlowExpiredError, errorLabel, refusedCodes, refusedNote } from './flow-errors.js';
import {
  EXCHANGE_LEASE_MS,
  MAX_REFUSED_CODES,
  runtimeOf,
  type CompletedFlow,
  type FlowServiceDeps,
} from './flow-types.js';
import { parsePaste } from './paste.js';

/** The open authorization-code flow the human's answer belongs to, and the callback URL to exchange. */
export async function matchInput(
  deps: FlowServiceDeps,
  input: string,
  connection?: string,
): Promise<{ flow: FlowRecord; callback: URL }> {
  const parsed = parsePaste(input);
  const { store, clock } = deps;
  if (parsed.kind === 'invalid') throw new InputError(`Not accepted: ${parsed.reason}`);
  let flow: FlowRecord | null;
  let callback: URL;
  if (parsed.kind === 'redirect') {
    if (parsed.error)
      throw new InputError(
        `The provider returned an error instead of a code: ${parsed.error}${parsed.errorDescription ? ` (${parsed.errorDescription})` : ''}. Open a new link to try again.`,
      );
    if (!parsed.state)
      throw new InputError('Not accepted: the URL has no state parameter, so it cannot be matched to an open flow.');
    flow = await store.findFlowByState(parsed.state);
    if (!flow)
      throw new InputError('Not accepted: this link does not match any flow tokenwarden opened (unknown state).');
    callback = parsed.url;
  } else {
    const open = (await store.listOpenFlows(connection)).filter((f) => f.kind === 'auth_code');
    if (open.length !== 1)
      throw new InputError(
        open.length === 0
          ? 'Not accepted: no authorization flow is open.'
          : 'Not accepted: several flows are open; paste the whole redirect URL so its state picks the right one.',
      );
    flow = open[0] as FlowRecord;
    const u = new URL(flow.redirectUri ?? 'http://127.0.0.1/');
    u.searchParams.set('code', parsed.code);
    u.searchParams.set('state', flow.state ?? '');
    callback = u;
  }
  if (flow.kind !== 'auth_code')
    throw new InputError('Not accepted: that flow is a device-code flow; approve it on the provider page instead.');
  if (flow.status !== 'open')
    throw new InputError(`Not accepted: this link was already used or closed (${flow.outcome ?? flow.status}).`);
  const now = clock.now();
  if (flow.expiresAt <= now) {
    // Only the submission that closes it asks for a fresh link (one fresh link, not one per copy).
    if (!(await store.finishFlow(flow.id, 'expired', now, 'link expired')))
      throw new InputError('Not accepted: this link was already used or closed.');
    throw new FlowExpiredError(flow, 'The link expired before it was used.');
  }
  return { flow, callback };
}

/**
 * Claim the flow for this one exchange (not by closing it): a lease whose owner is a token of
 * this attempt alone, so a second submission — from this process or another — can never
 * share it; a code redeemed twice makes the provider revoke the grant (RFC 6749 §4.1.2). A
 * crash or a network failure mid-exchange leaves the flow open, so the human's same link
 * still works once the claim lapses (EXCHANGE_LEASE_MS).
 */
export async function exchangeClaimed(
  deps: FlowServiceDeps,
  flow: FlowRecord,
  callback: URL,
  via: string,
): Promise<CompletedFlow> {
  const { store, clock } = deps;
  const claim = `flow:${flow.id}`;
  const token = `${deps.owner}:claim:${randomBytes(9).toString('base64url')}`;
  if (!(await store.acquireLease(claim, token, EXCHANGE_LEASE_MS, clock.now())))
    throw new InputError(
      'Not accepted: this link is already being completed (it was sent more than once); the first submission decides.',
    );
  try {
    const current = await store.getFlow(flow.id);
    if (!current || current.status !== 'open')
      throw new InputError(`Not accepted: this link was already used (${current?.outcome ?? 'closed'}).`);
    const rt = runtimeOf(deps, flow.connection);
    let tokens: TokenSet;
    try {
      const client = await rt.client();
      tokens = await client.exchangeCode(callback, {
        state: flow.state ?? '',
        codeVerifier: flow.codeVerifier ?? '',
        redirectUri: flow.redirectUri ?? '',
        nonce: flow.nonce ?? undefined,
      });
    } catch (err) {
      const refused = refusedCodes(current.outcome);
      if (err instanceof ProviderError && err.error === 'invalid_grant') return await codeRefused(deps, current, err);
      await store
        .updateFlow(flow.id, {
          outcome: `exchange failed (${errorLabel(err)}); link still open${refused ? `; ${refusedNote(refused)}` : ''}`,
        })
        .catch(() => undefined);
      throw err;
    }
    return await completeWithTokens(deps, flow, tokens, via);
  } finally {
    await store.releaseLease(claim, token).catch(() => undefined);
  }
}

/**
 * The provider refused the code (expired, already used, or junk sent with a leaked state).
 * The link stays open for the human's next try — opening it again yields a new code — up to
 * MAX_REFUSED_CODES refusals; then it closes and the caller may send a fresh link.
 */
async function codeRefused(deps: FlowServiceDeps, flow: FlowRecord, err: ProviderError): Promise<never> {
  const { store, clock } = deps;
  const n = refusedCodes(flow.outcome) + 1;
  if (n < MAX_REFUSED_CODES) {
    await store.updateFlow(flow.id, { outcome: `link still open; ${refusedNote(n)}` });
    throw new InputError(
      `Not accepted: the provider refused this code (it expired, was already used, or was not issued for this link). The link stays open: open it again and send back the new address (${MAX_REFUSED_CODES - n} more ${MAX_REFUSED_CODES - n === 1 ? 'try' : 'tries'} before it closes).`,
      { cause: err },
    );
  }
  await store.finishFlow(flow.id, 'failed', clock.now(), `link closed; ${refusedNote(n)}`);
  throw new CodesRefusedError(
    flow,
    `The provider refused ${n} codes sent for this link (expired, already used, or not issued for it), so the link was closed.`,
    err,
  );
}
