/** Shared values for the Store contract suites. Times are fixed epoch milliseconds. */
import type { NewFlow, NewOutboxMessage } from '../../src/store/types.js';

export const T = Date.UTC(2026, 0, 1);
export const CAUSE = {
  id: 'revoked',
  summary: 'The grant was revoked.',
  fix: 'Authorize again.',
  providerError: 'invalid_grant',
};

export function newFlow(id: string, over: Partial<NewFlow> = {}): NewFlow {
  return {
    id,
    connection: 'gmail',
    kind: 'auth_code',
    state: `state-${id}`,
    codeVerifier: `verifier-${id}`,
    deviceCode: null,
    nonce: `nonce-${id}`,
    userCode: null,
    url: `https://auth.example/authorize?state=state-${id}`,
    redirectUri: 'http://127.0.0.1:7465/oauth/callback',
    interval: null,
    reason: 'manual',
    askedVia: [],
    createdAt: T,
    expiresAt: T + 600_000,
    ...over,
  };
}

export function newMessage(id: string, over: Partial<NewOutboxMessage> = {}): NewOutboxMessage {
  return {
    id,
    mailbox: 'agent',
    idempotencyKey: `idem-${id}`,
    messageId: `<${id}@tokenwarden>`,
    payload: JSON.stringify({ to: 'a@example.com', subject: `hello ${id}` }),
    createdAt: T,
    ...over,
  };
}

export async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}
