/**
 * `tokenwarden git-credential <get|store|erase> --connection <name>`: a git credential helper.
 *
 *   git config credential.https://github.com.helper '!tokenwarden git-credential --connection gh'
 *
 * `get` answers a fresh token (through the same path as `tokenwarden token`) when the request's
 * protocol and host are the connection's; otherwise it prints nothing so git tries its next
 * helper. `store` and `erase` do nothing (the grant is never deleted); other operations are
 * ignored, as gitcredentials(7) asks. When a human must act: the diagnosis on stderr, exit 3.
 * Tokens come from a `TokenSource` (the full path, or the fast path that falls back to it).
 */
import { gitAnswer, gitHostsFor, gitRequestMatches, gitUsername, parseGitRequest } from '../integrations/git.js';
import { UsageError } from '../core/errors.js';
import type { Io } from './output.js';
import type { TokenSource } from './token.js';

/** git sends a few short lines; anything larger is not a credential request. */
const MAX_INPUT = 64 * 1024;

export async function runGitCredential(
  o: { config?: string | undefined; operation: string; connection: string },
  io: Io,
  source: TokenSource,
  stdin: NodeJS.ReadableStream = process.stdin,
): Promise<number> {
  const text = await readRequest(stdin);
  if (o.operation !== 'get') return 0;
  const req = parseGitRequest(text);
  let username = '';
  const got = await source(o, [o.connection], {
    accept: ({ config, provider }) => {
      username = gitUsername(req, config, provider);
      return gitRequestMatches(req, gitHostsFor(config, provider));
    },
  });
  const t = got?.[0];
  if (!t) return 0;
  const fields: Array<[string, string]> = [
    ['username', username],
    ['password', t.accessToken],
  ];
  // git 2.41+ does not keep the password (e.g. in credential-cache) past this time.
  if (t.expiresAt !== null) fields.push(['password_expiry_utc', String(Math.floor(t.expiresAt / 1000))]);
  io.out(gitAnswer(fields));
  return 0;
}

/** Read stdin up to the first blank line (or its end). */
function readRequest(stdin: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const done = (): void => {
      stdin.off('data', onData);
      stdin.off('end', done);
      stdin.off('error', reject);
      stdin.pause();
      resolve(buf);
    };
    const onData = (d: Buffer | string): void => {
      buf += d.toString();
      if (buf.length > MAX_INPUT) {
        stdin.off('data', onData);
        reject(new UsageError(`git credential input larger than ${MAX_INPUT} bytes.`));
        return;
      }
      if (buf.startsWith('\n') || buf.includes('\n\n') || buf.includes('\r\n\r\n')) done();
    };
    stdin.on('data', onData);
    stdin.once('end', done);
    stdin.once('error', reject);
  });
}
