/**
 * SASL initial responses carrying an OAuth bearer token, base64 encoded as an `AUTH` command
 * (SMTP) or `AUTHENTICATE` continuation (IMAP) expects them:
 *
 * - XOAUTH2 (Google, Microsoft): `user=<u>^Aauth=Bearer <t>^A^A`.
 * - OAUTHBEARER (RFC 7628 §3.1): GS2 header `n,a=<u>,` then `^Ahost=<h>^Aport=<p>^Aauth=Bearer <t>^A^A`
 *   (host and port only when given; the authorization identity is optional).
 */
import { UsageError } from '../core/errors.js';

export const SASL_FORMATS = ['raw', 'xoauth2', 'oauthbearer'] as const;
export type SaslFormat = (typeof SASL_FORMATS)[number];

const hasControl = (v: string): boolean => [...v].some((ch) => ch.charCodeAt(0) < 32 || ch.charCodeAt(0) === 127);

/** RFC 5801 saslname: `,` and `=` are escaped as `=2C` and `=3D`. */
function saslname(user: string): string {
  return user.replace(/=/g, '=3D').replace(/,/g, '=2C');
}

export function saslInitialResponse(
  format: Exclude<SaslFormat, 'raw'>,
  o: {
    token: string;
    user?: string | undefined;
    host?: string | undefined;
    port?: number | undefined;
    connection: string;
  },
): string {
  for (const [what, v] of [
    ['--user', o.user],
    ['--host', o.host],
  ] as const)
    if (v !== undefined && (v === '' || hasControl(v)))
      throw new UsageError(`${what} must be non-empty text without control characters.`);
  let raw: string;
  if (format === 'xoauth2') {
    if (!o.user)
      throw new UsageError(
        `XOAUTH2 needs the mail login: connection "${o.connection}" has no known account, so pass --user <address> (or set account: in its config).`,
      );
    raw = `user=${o.user}\x01auth=Bearer ${o.token}\x01\x01`;
  } else {
    const kv = [
      ...(o.host !== undefined ? [`host=${o.host}`] : []),
      ...(o.port !== undefined ? [`port=${o.port}`] : []),
      `auth=Bearer ${o.token}`,
    ];
    raw = `n,${o.user ? `a=${saslname(o.user)}` : ''},\x01${kv.map((p) => `${p}\x01`).join('')}\x01`;
  }
  return Buffer.from(raw, 'utf8').toString('base64');
}
