/**
 * git credential helper protocol (gitcredentials(7), git-credential(1)): `key=value` lines on
 * stdin up to a blank line; `get` answers `username=` and `password=` lines, or nothing so git
 * asks its next helper. Which hosts a connection answers for: its `git_hosts`, else the
 * provider's (github.com for GitHub; none for the others).
 */
import type { ConnectionConfig } from '../config/schema.js';
import type { ProviderProfile } from '../providers/types.js';

export type GitRequest = Map<string, string>;

/** Parse the helper's input; repeated keys (`wwwauth[]`) keep the last value, which we never use. */
export function parseGitRequest(text: string): GitRequest {
  const req: GitRequest = new Map();
  for (const line of text.split('\n')) {
    const l = line.replace(/\r$/, '');
    if (l === '') break;
    const i = l.indexOf('=');
    if (i > 0) req.set(l.slice(0, i), l.slice(i + 1));
  }
  return req;
}

/** The hosts a connection answers for, as `protocol://host[:port]` (lower case). */
export function gitHostsFor(config: Pick<ConnectionConfig, 'git_hosts'>, provider: ProviderProfile['id']): string[] {
  const entries = config.git_hosts ?? (provider === 'github' ? ['github.com'] : []);
  return entries.map((e) => {
    if (e.includes('://')) {
      const u = new URL(e);
      return `${u.protocol.replace(/:$/, '')}://${u.host}`.toLowerCase();
    }
    return `https://${e}`.toLowerCase();
  });
}

/** Whether a `get` request (protocol, host) is one this connection answers. */
export function gitRequestMatches(req: GitRequest, hosts: string[]): boolean {
  const protocol = req.get('protocol');
  const host = req.get('host');
  if (!protocol || !host) return false;
  return hosts.includes(`${protocol}://${host}`.toLowerCase());
}

/**
 * The username to answer with: the one git asked about (from `user@host` in the remote URL),
 * else the connection's `git_username`, else what the provider expects with an OAuth token
 * (`x-access-token` for GitHub, `oauth2` otherwise: the name GitLab documents for OAuth tokens).
 */
export function gitUsername(
  req: GitRequest,
  config: Pick<ConnectionConfig, 'git_username'>,
  provider: ProviderProfile['id'],
): string {
  return req.get('username') || config.git_username || (provider === 'github' ? 'x-access-token' : 'oauth2');
}

/** The `get` answer; a value with a newline or NUL would corrupt the protocol and is refused. */
export function gitAnswer(fields: Array<[string, string]>): string {
  for (const [k, v] of fields)
    if (/[\n\0]/.test(v)) throw new Error(`git credential ${k} contains a newline or NUL; not answered`);
  return fields.map(([k, v]) => `${k}=${v}\n`).join('');
}
