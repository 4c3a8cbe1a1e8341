/**
 * Learned lifetimes: what the death of a grant teaches when nobody declared the rule that killed
 * it. Pure functions of the facts at death — consent time, death time, the provider's error
 * text, the scopes and the ages at which earlier grants of the same connection died.
 *
 * - A Google grant with scopes beyond openid/email/profile that dies with `invalid_grant` 7 days
 *   (± 6 h) after consent most likely belongs to an app in "Testing" status.
 * - Two or more deaths at a consistent age (within 10 %) point to a rule with that lifetime: an
 *   organisation's session policy, Google Workspace reauthentication (`invalid_rapt`), a
 *   sign-in frequency. The connection is renewed before that age from then on.
 *
 * A learned rule is a guess and says so (`confidence: 'likely'`); a declared one
 * (`app_status: testing`, `refresh_token_ttl`) stays the explicit override.
 */
import type { ConnectionConfig } from '../config/schema.js';
import { formatDuration } from '../core/duration.js';
import type { DiagnosedCause } from '../core/errors.js';
import { CAUSES } from '../providers/causes.js';
import { onlyBasicScopes } from '../providers/google.js';
import { DAY_MS } from '../providers/lifetime.js';
import type { ProviderProfile } from '../providers/types.js';
import type { LearnedLifetime } from '../store/types.js';

/** Google's Testing-status refresh-token lifetime. */
export const GOOGLE_TESTING_MS = 7 * DAY_MS;
/** How far from 7 days a death may be and still count as the Testing rule (clock skew, delays). */
export const GOOGLE_TESTING_TOLERANCE_MS = 6 * 3_600_000;
/** Deaths within this fraction of each other count as "the same age". */
const CONSISTENT = 0.1;
/** Younger deaths teach nothing about a lifetime (a code reused, a token revoked at once). */
const MIN_AGE_MS = 3_600_000;
const KEEP_AGES = 5;

export interface DeathInput {
  profile: ProviderProfile['id'];
  conn: ConnectionConfig;
  /** What the provider profile diagnosed from the error alone. */
  diagnosis: DiagnosedCause;
  error: string;
  description?: string | undefined;
  /** Scopes of the grant that died. */
  scopes: string[];
  grantedAt: number | null;
  now: number;
  previous: LearnedLifetime | null;
}

/** The cause to report (possibly sharper than the profile's) and what to remember. */
export function learnFromDeath(d: DeathInput): { cause: DiagnosedCause; lifetime: LearnedLifetime | null } {
  const unchanged = { cause: d.diagnosis, lifetime: d.previous };
  if (d.error !== 'invalid_grant' || d.grantedAt === null) return unchanged;
  const age = d.now - d.grantedAt;
  if (age < MIN_AGE_MS) return unchanged;
  const deathAges = [...(d.previous?.deathAges ?? []), age].slice(-KEEP_AGES);
  const keep = (lifetimeMs: number | null, cause: DiagnosedCause | null): LearnedLifetime => ({
    deathAges,
    lifetimeMs,
    cause,
    learnedAt: lifetimeMs === null ? null : d.now,
  });

  if (googleTestingLikely(d, age)) {
    const cause = googleTestingLikelyCause(d);
    return { cause, lifetime: keep(GOOGLE_TESTING_MS, cause) };
  }
  const repeated = consistentAges(deathAges);
  if (repeated) {
    const lifetimeMs = Math.min(...repeated);
    const cause = sessionLimitCause(d, repeated.length, lifetimeMs);
    return { cause, lifetime: keep(lifetimeMs, cause) };
  }
  return { cause: d.diagnosis, lifetime: keep(d.previous?.lifetimeMs ?? null, d.previous?.cause ?? null) };
}

/**
 * Google, Testing status not declared, scopes beyond the basic ones, a death 7 days (± 6 h)
 * after consent that Google reports as "expired or revoked" (no other reason given).
 */
function googleTestingLikely(d: DeathInput, age: number): boolean {
  if (d.profile !== 'google' || d.conn.app_status !== undefined) return false;
  if (onlyBasicScopes(d.scopes)) return false;
  if (d.diagnosis.id !== CAUSES.google_revoked_or_expired.id && d.diagnosis.id !== CAUSES.google_unused.id)
    return false;
  if (d.description !== undefined && !/expired or revoked/i.test(d.description)) return false;
  return Math.abs(age - GOOGLE_TESTING_MS) <= GOOGLE_TESTING_TOLERANCE_MS;
}

function googleTestingLikelyCause(d: DeathInput): DiagnosedCause {
  return {
    id: CAUSES.google_testing_expiry.id,
    confidence: 'likely',
    summary:
      'The grant died 7 days after consent, so the Google app is most likely in Testing: Google expires its refresh tokens 7 days after consent.',
    fix: 'Re-authorize now; to stop the weekly expiry, publish the app to production (Google Cloud console → OAuth consent screen → Publish app). Until then tokenwarden asks for a renewal before day 7.',
    providerError: d.error,
    ...(d.description !== undefined ? { providerDescription: d.description } : {}),
  };
}

/** The most recent run of ages (at least two, newest included) within 10 % of each other. */
function consistentAges(ages: number[]): number[] | null {
  if (ages.length < 2) return null;
  let run = [ages[ages.length - 1] as number];
  for (let i = ages.length - 2; i >= 0; i--) {
    const next = [...run, ages[i] as number];
    if (Math.max(...next) > Math.min(...next) * (1 + CONSISTENT)) break;
    run = next;
  }
  return run.length >= 2 ? run : null;
}

/** Who can change a session limit, by provider. */
function whoCanChange(profile: ProviderProfile['id']): string {
  switch (profile) {
    case 'google':
      return 'the Google Workspace admin (Admin console → Security → Google Cloud session control: exempt this app as trusted, or lengthen the reauthentication interval)';
    case 'microsoft':
      return 'the Microsoft Entra admin (Conditional Access → sign-in frequency, or token lifetime policies)';
    case 'github':
      return "the GitHub organisation's owners (the app's token expiration settings)";
    default:
      return "the identity provider's administrator (the session or refresh-token lifetime policy for this client)";
  }
}

function sessionLimitCause(d: DeathInput, deaths: number, lifetimeMs: number): DiagnosedCause {
  const every = formatDuration(lifetimeMs);
  const rapt = d.diagnosis.id === CAUSES.google_invalid_rapt.id;
  return {
    id: rapt ? CAUSES.google_invalid_rapt.id : 'session_limit',
    // The provider's own words (invalid_rapt) are a fact; the pattern is an inference.
    confidence: rapt ? 'known' : 'likely',
    summary: rapt
      ? `${d.diagnosis.summary} The last ${deaths} grants each ended about ${every} after consent.`
      : `The last ${deaths} grants each died about ${every} after consent, so a policy most likely limits how long a sign-in lasts (an organisation's session policy or reauthentication rule).`,
    fix: `Re-authorize now; tokenwarden asks for a renewal before ${every} from now on. To stop it, ask ${whoCanChange(d.profile)}.`,
    providerError: d.error,
    ...(d.description !== undefined ? { providerDescription: d.description } : {}),
  };
}

/**
 * The learned lifetime that applies to a connection now: none when `refresh_token_ttl` is set
 * (the operator's word wins), nor a learned Testing expiry once `app_status` is declared.
 */
export function applicableLifetimeMs(
  conn: Pick<ConnectionConfig, 'refresh_token_ttl' | 'app_status'>,
  lifetime: LearnedLifetime | null,
): number | null {
  if (!lifetime || lifetime.lifetimeMs === null || conn.refresh_token_ttl !== undefined) return null;
  if (conn.app_status !== undefined && lifetime.cause?.id === CAUSES.google_testing_expiry.id) return null;
  return lifetime.lifetimeMs;
}

/**
 * A grant that outlived its learned lifetime (by more than the tolerance) proves the rule gone —
 * the app was published, the policy changed: forget the lifetime, keep the ages.
 */
export function outlived(lifetime: LearnedLifetime | null, grantedAt: number | null, now: number): boolean {
  if (!lifetime || lifetime.lifetimeMs === null || grantedAt === null) return false;
  const slack = Math.min(GOOGLE_TESTING_TOLERANCE_MS, lifetime.lifetimeMs * CONSISTENT);
  return now - grantedAt > lifetime.lifetimeMs + slack;
}

/** What status views show of a learned lifetime that applies now. */
export interface LearnedView {
  lifetimeMs: number;
  /** The diagnosis the lifetime rests on (cause, fix, confidence). */
  cause: DiagnosedCause | null;
  /** How many deaths were seen. */
  deaths: number;
  learnedAt: number | null;
}

export function learnedView(
  conn: Pick<ConnectionConfig, 'refresh_token_ttl' | 'app_status'>,
  lifetime: LearnedLifetime | null,
): LearnedView | null {
  const ms = applicableLifetimeMs(conn, lifetime);
  if (ms === null || !lifetime) return null;
  return { lifetimeMs: ms, cause: lifetime.cause, deaths: lifetime.deathAges.length, learnedAt: lifetime.learnedAt };
}
