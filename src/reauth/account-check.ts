/**
 * Whose grant a re-authorization brings. Whoever holds a link's `state` can complete it with
 * their own account (the callback is a plain cross-site GET, and links travel through chat,
 * ntfy, webhooks), so the account of the new tokens is compared with the one the connection
 * belongs to before anything is stored: a different account is refused unless the operator
 * allowed it (`connections.<name>.allow_account_change`).
 *
 * The identity kept for the comparison is the ID token's `sub` (stable and unique per issuer;
 * the ID token is stored sealed with the grant and kept across refreshes), else the `account`
 * column (email, login) — for providers without ID tokens it comes from the provider's profile
 * endpoint (GitHub `user.login`).
 */
import type { TokenSet } from '../core/types.js';
import type { ConnectionRuntime } from '../keeper/runtime.js';
import { probeFor, probeUrl } from '../providers/index.js';
import type { ConnectionRecord } from '../store/types.js';

export interface AccountIdentity {
  /** The ID token's `sub`: what is compared when both sides have one. */
  subject: string | null;
  /** What a human recognises (email, preferred_username, upn, login), else the subject. */
  label: string | null;
}

export type AccountVerdict =
  /** The connection had no account yet (first authorization): always accepted. */
  | { kind: 'first' }
  | { kind: 'same' }
  | { kind: 'changed'; from: string; to: string }
  /** One side's account is unknown: accepted, and the event says it could not be compared. */
  | { kind: 'unknown'; why: string };

/** Claims of an ID token (not verified here: the exchange verified it; used for identity only). */
function claimsOf(idToken: string | null | undefined): Record<string, unknown> | null {
  if (!idToken) return null;
  try {
    const payload = JSON.parse(Buffer.from(idToken.split('.')[1] ?? '', 'base64url').toString('utf8')) as unknown;
    return payload && typeof payload === 'object' ? (payload as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

/** Identity named by an ID token: `sub`, and the label a human knows. */
export function identityOfIdToken(idToken: string | null | undefined): AccountIdentity {
  const c = claimsOf(idToken);
  if (!c) return { subject: null, label: null };
  const subject = str(c['sub']);
  return {
    subject,
    label: str(c['email']) ?? str(c['preferred_username']) ?? str(c['upn']) ?? subject,
  };
}

/** The identity a connection's stored grant belongs to (null: no grant yet). */
export function identityOfRow(row: ConnectionRecord | null): AccountIdentity | null {
  if (!row || (row.grantedAt === null && !row.refreshToken && !row.accessToken)) return null;
  const fromToken = identityOfIdToken(row.idToken);
  return { subject: fromToken.subject, label: row.account ?? fromToken.label };
}

/**
 * The identity of freshly issued tokens: the ID token's, else — when the provider has one — its
 * profile endpoint asked with the new access token (GitHub `user.login`). Never throws.
 */
export async function identityOfTokens(
  rt: ConnectionRuntime,
  tokens: TokenSet,
  fetchImpl: typeof fetch | undefined,
): Promise<AccountIdentity> {
  const fromToken = identityOfIdToken(tokens.idToken);
  if (fromToken.subject || !fetchImpl) return fromToken;
  const probe = probeFor(rt.profile, tokens.scope?.split(' ') ?? rt.config.scopes);
  const url = probe?.accountField ? probeUrl(rt.profile, probe) : null;
  if (!probe?.accountField || !url) return fromToken;
  try {
    const res = await fetchImpl(url, {
      headers: { authorization: `Bearer ${tokens.accessToken}`, accept: 'application/json' },
      signal: AbortSignal.timeout(10_000),
    });
    if (!res.ok) {
      await res.body?.cancel();
      return fromToken;
    }
    const body = (await res.json()) as Record<string, unknown>;
    return { subject: null, label: str(body[probe.accountField]) ?? fromToken.label };
  } catch {
    return fromToken;
  }
}

/** Compare the connection's account with the new tokens' (subjects when both have one, else labels). */
export function compareAccounts(prior: AccountIdentity | null, next: AccountIdentity): AccountVerdict {
  if (!prior) return { kind: 'first' };
  const from = prior.label ?? prior.subject ?? '';
  const to = next.label ?? next.subject ?? '';
  if (prior.subject && next.subject)
    return prior.subject === next.subject ? { kind: 'same' } : { kind: 'changed', from, to };
  if (prior.label && next.label)
    return prior.label.toLowerCase() === next.label.toLowerCase() ? { kind: 'same' } : { kind: 'changed', from, to };
  return {
    kind: 'unknown',
    why:
      next.label || next.subject
        ? "the connection's previous account is not known"
        : 'the provider named no account for the new tokens (no ID token, no profile)',
  };
}
