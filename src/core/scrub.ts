/**
 * Text from a provider or server (an OAuth error description, a mail API's error message, an SMTP
 * reply) may echo the request it answers, and with it a secret. Before such text is kept or shown
 * it loses every secret the request carried and is cut to a bounded length.
 */
import { redact } from './logger.js';

/** Longest provider-supplied text (error code, description) tokenwarden keeps or shows. */
export const MAX_PROVIDER_TEXT = 300;
/** Shortest run of a secret that counts as a leak when found inside a provider's text. */
const FRAGMENT = 12;

/** The ways a secret may appear in an echo of the request: as sent in a form, a query, JSON or Basic auth. */
function secretForms(secrets: readonly (string | null | undefined)[]): string[] {
  const forms = new Set<string>();
  for (const s of secrets) {
    if (!s || s.length < 4) continue;
    forms.add(s);
    forms.add(encodeURIComponent(s));
    forms.add(new URLSearchParams([['', s]]).toString().slice(1));
    forms.add(JSON.stringify(s).slice(1, -1));
    const b64 = Buffer.from(s).toString('base64');
    forms.add(b64);
    forms.add(b64.replace(/=+$/, ''));
  }
  // Longest first: a form that contains another is replaced whole.
  return [...forms].sort((a, b) => b.length - a.length);
}

/** Replace every run of at least FRAGMENT characters that also occurs in `form` (a cut-off echo). */
function dropFragments(text: string, form: string): string {
  if (form.length < FRAGMENT) return text;
  for (let i = 0; i + FRAGMENT <= form.length; i++) {
    const piece = form.slice(i, i + FRAGMENT);
    for (let at = text.indexOf(piece); at >= 0; at = text.indexOf(piece)) {
      let start = at;
      let end = at + FRAGMENT;
      for (let a = i; start > 0 && a > 0 && text[start - 1] === form[a - 1]; a--) start--;
      for (let b = i + FRAGMENT; end < text.length && b < form.length && text[end] === form[b]; b++) end++;
      text = `${text.slice(0, start)}[redacted]${text.slice(end)}`;
    }
  }
  return text;
}

/**
 * A provider's text (an OAuth error, a mail API's or SMTP server's answer) as tokenwarden may keep and show it: every known secret of the request
 * (client secret, refresh token, code, code verifier, assertion — raw, URL-, form-, JSON- or
 * base64-encoded, whole or a cut-off run of it) replaced, anything token-shaped masked, and at
 * most {@link MAX_PROVIDER_TEXT} characters long. An upstream that echoes the request body in
 * `error_description` cannot put a secret into the store, events, API, status or MCP.
 */
export function scrubProviderText(text: string, secrets: readonly (string | null | undefined)[]): string {
  const out = withoutSecrets(text.slice(0, 4 * MAX_PROVIDER_TEXT), secrets);
  return out.length > MAX_PROVIDER_TEXT ? `${out.slice(0, MAX_PROVIDER_TEXT - 1)}…` : out;
}

export function withoutSecrets(text: string, secrets: readonly (string | null | undefined)[]): string {
  const forms = secretForms(secrets);
  let out = text;
  for (const form of forms) out = out.split(form).join('[redacted]');
  for (const form of forms) out = dropFragments(out, form);
  return redact(out);
}

/**
 * The forms a mail login puts on the wire besides the bare secret: SASL PLAIN
 * (`\0user\0password`) and XOAUTH2 (`user=…\x01auth=Bearer …\x01\x01`), as the server may echo them.
 */
export function mailLoginSecrets(
  user: string,
  secret: { password?: string | null | undefined; accessToken?: string | null | undefined },
): string[] {
  const out: string[] = [];
  if (secret.password) out.push(secret.password, `\u0000${user}\u0000${secret.password}`);
  if (secret.accessToken)
    out.push(secret.accessToken, `user=${user}\u0001auth=Bearer ${secret.accessToken}\u0001\u0001`);
  return out;
}
