import { describe, expect, it } from 'vitest';
import type { ConnectionStatus } from '../warden.js';
import { describeConnection, routeFacts, type RouteFact } from './describe.js';

const NOW = Date.parse('2025-03-04T10:07:00Z');
const base: ConnectionStatus = {
  name: 'gmail',
  provider: 'google',
  kind: 'oauth',
  state: 'healthy',
  account: 'agent@example.com',
  scopes: [],
  accessExpiresAt: Date.parse('2025-03-04T10:55:00Z'),
  refreshExpiresAt: null,
  grantedAt: null,
  lastRefreshAt: null,
  cause: null,
  lastError: null,
  openFlow: null,
  plannedRenewalAt: null,
};
const circuit = {
  state: 'closed' as const,
  reason: null,
  openedAt: null,
  retryAt: null,
  notBefore: null,
  consecutiveAuthFailures: 0,
};
const health = (route: string, direction: 'send' | 'read', connection: string | null) => ({
  mailbox: 'agent',
  direction,
  route,
  kind: 'smtp' as const,
  connection,
  ok: null,
  circuit,
  checkedAt: null,
});
const routesFor = (state: ConnectionStatus['state']): RouteFact[] =>
  routeFacts(
    { mailboxes: { agent: { address: 'agent@example.com', send: [], read: [], max_message_bytes: 1 } } },
    [
      health('gmail:gmail', 'send', 'gmail'),
      health('smtp:smtp.gmail.com', 'send', null),
      health('gmail:gmail', 'read', 'gmail'),
    ],
    new Map([['gmail', state]]),
  );
const cause = { id: 'revoked', summary: 'The refresh token was revoked.', fix: 'Re-authorize.' };
const flow = {
  id: 'f1',
  kind: 'auth_code',
  url: 'https://accounts.google.com/o/oauth2/v2/auth?x',
  userCode: null,
  createdAt: Date.parse('2025-03-04T10:02:00Z'),
  expiresAt: Date.parse('2025-03-04T10:12:00Z'),
  askedVia: ['telegram'],
};

describe('describeConnection', () => {
  it.each([
    [
      'healthy',
      base,
      /^gmail \(Google, agent@example.com\) is healthy: the current access token is valid until 10:55 UTC/,
      /Still works: sending mail from mailbox agent through gmail:gmail \(OAuth via gmail\); reading mail from mailbox agent through gmail:gmail/,
    ],
    [
      'awaiting the human',
      { ...base, state: 'awaiting_human' as const, cause, openFlow: flow },
      /^gmail \(Google, agent@example.com\) is waiting for re-authorization since 10:02 UTC\. Cause: The refresh token was revoked\. Fix: Re-authorize\. The human was asked via channel "telegram" at 10:02 UTC \(5m ago\); the link expires at 10:12 UTC\./,
      /Still works: sending mail from mailbox agent through smtp:smtp.gmail.com \(App Password\) as a fallback\. Unavailable until gmail is re-authorized: reading mail from mailbox agent \(no other read route works\)\./,
    ],
    [
      'dead, nobody asked',
      { ...base, state: 'reauth_required' as const, cause },
      /needs re-authorization since 10:02 UTC\./,
      /Nobody has been asked yet\. Call request_reauthorization/,
    ],
    [
      'degraded',
      { ...base, state: 'degraded' as const, lastError: 'HTTP 503' },
      /cannot reach its provider right now \(HTTP 503\).*No human action is needed\./,
      /Still works/,
    ],
    [
      'never authorized',
      { ...base, state: 'unauthorized' as const, accessExpiresAt: null },
      /has never been authorized\./,
      /Unavailable until gmail is re-authorized/,
    ],
  ])('%s', (_name, s, first, second) => {
    const f = describeConnection(s, {
      now: NOW,
      displayName: 'Google',
      routes: routesFor(s.state),
      deadSince: Date.parse('2025-03-04T10:02:00Z'),
      notify: ['telegram'],
    });
    expect(f.sentence).toMatch(first);
    expect(f.sentence).toMatch(second);
    expect(f.serving).toBe(!['reauth_required', 'awaiting_human', 'unauthorized'].includes(s.state));
  });

  it('a predicted refresh-token death names the planned renewal', () => {
    const f = describeConnection(
      {
        ...base,
        refreshExpiresAt: Date.parse('2025-03-10T10:02:00Z'),
        plannedRenewalAt: Date.parse('2025-03-09T10:02:00Z'),
      },
      { now: NOW, displayName: 'Google', routes: [], deadSince: null, notify: [] },
    );
    expect(f.sentence).toContain(
      'predicted to last until 2025-03-10 10:02 UTC; the human will be asked to renew it at 2025-03-09 10:02 UTC.',
    );
    expect(f.renewal_planned_at).toBe('2025-03-09T10:02:00.000Z');
  });

  it('structured facts carry the asked-where-and-when and never a token field', () => {
    const f = describeConnection(
      { ...base, state: 'awaiting_human', cause, openFlow: flow },
      { now: NOW, displayName: 'Google', routes: routesFor('awaiting_human'), deadSince: flow.createdAt, notify: [] },
    );
    expect(f.asked).toEqual({
      flow_id: 'f1',
      link: flow.url,
      user_code: null,
      asked_at: '2025-03-04T10:02:00.000Z',
      via: ['telegram'],
      link_expires_at: '2025-03-04T10:12:00.000Z',
    });
    expect(f.since).toBe('2025-03-04T10:02:00.000Z');
    expect(Object.keys(f).some((k) => /token/i.test(k))).toBe(false);
  });
});
