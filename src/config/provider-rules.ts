/**
 * Provider rules applied when a connection is read from the config, so a grant lasts by default:
 *
 * - Google issues a refresh token only with `access_type=offline`, and again on a later consent
 *   only with `prompt=consent`: `auth_params` that would drop either are refused.
 *   https://developers.google.com/identity/protocols/oauth2/web-server#offline
 * - Google scope short names (`gmail.send`) are expanded to their full form
 *   (`https://www.googleapis.com/auth/gmail.send`); Google accepts only the full one.
 *   https://developers.google.com/identity/protocols/oauth2/scopes
 * - Microsoft issues a refresh token only when `offline_access` is requested: it is always added
 *   to a user grant's scopes.
 *   https://learn.microsoft.com/en-us/entra/identity-platform/scopes-oidc#offline_access
 */
import type { z } from 'zod';

const GOOGLE_SCOPE_BASE = 'https://www.googleapis.com/auth/';
/** Scopes Google accepts as they are (OpenID Connect). */
const GOOGLE_PLAIN = new Set(['openid', 'email', 'profile']);
const SHORT_NAME = /^[A-Za-z][A-Za-z0-9._-]*$/;

interface Conn {
  provider: string;
  kind: string;
  scopes: string[];
  auth_params?: Record<string, string> | undefined;
}

/** The full form of a Google scope (`gmail.send` → `https://www.googleapis.com/auth/gmail.send`), or null if it cannot be one. */
export function fullGoogleScope(scope: string): string | null {
  if (GOOGLE_PLAIN.has(scope) || /^https:\/\//.test(scope)) return scope;
  if (scope === 'mail.google.com') return 'https://mail.google.com/';
  return SHORT_NAME.test(scope) ? `${GOOGLE_SCOPE_BASE}${scope}` : null;
}

/** Refusals, each naming the key and what to write instead. */
export function checkProviderRules(c: Conn, ctx: z.RefinementCtx): void {
  if (c.provider !== 'google') return;
  c.scopes.forEach((s, i) => {
    if (fullGoogleScope(s) === null)
      ctx.addIssue({
        code: 'custom',
        path: ['scopes', i],
        message: `"${s}" is not a Google scope: write its full name, e.g. ${GOOGLE_SCOPE_BASE}gmail.send`,
      });
  });
  if (c.kind !== 'oauth' || !c.auth_params) return;
  const access = c.auth_params['access_type'];
  if (access !== undefined && access !== 'offline')
    ctx.addIssue({
      code: 'custom',
      path: ['auth_params', 'access_type'],
      message: `Google issues a refresh token only with access_type=offline (got "${access}"): remove auth_params.access_type; tokenwarden sends offline`,
    });
  const prompt = c.auth_params['prompt'];
  if (prompt !== undefined && !prompt.split(/\s+/).includes('consent'))
    ctx.addIssue({
      code: 'custom',
      path: ['auth_params', 'prompt'],
      message: `Google returns a refresh token on a repeated authorization only with prompt=consent (got "${prompt}"): remove auth_params.prompt, or include consent ("consent select_account")`,
    });
}

/** Expanded Google scope names; `offline_access` for Microsoft user grants. */
export function withProviderDefaults<C extends Conn>(c: C): C {
  if (c.provider === 'google' && c.scopes.some((s) => fullGoogleScope(s) !== s))
    return { ...c, scopes: c.scopes.map((s) => fullGoogleScope(s) ?? s) };
  if (c.provider === 'microsoft' && c.kind === 'oauth' && !c.scopes.includes('offline_access'))
    return { ...c, scopes: [...c.scopes, 'offline_access'] };
  return c;
}
