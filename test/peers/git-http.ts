/**
 * A git smart-HTTP server for tests: the real `git http-backend` (CGI) behind a small node:http
 * server on 127.0.0.1 that demands HTTP Basic credentials and checks them with `verify` (e.g.
 * the password introspected as an active access token at the OAuth peer). Serves one bare
 * repository, `repo.git`, holding one commit with `README` = `readme`.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface GitHttpPeer {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** `127.0.0.1:PORT` as git names it in credential requests. */
  host: string;
  readme: string;
  /** Credentials presented so far (username and whether `verify` accepted them). */
  attempts: Array<{ username: string; password: string; accepted: boolean }>;
  stop(): Promise<void>;
}

const GIT_ENV = {
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_AUTHOR_NAME: 't',
  GIT_AUTHOR_EMAIL: 't@example.org',
  GIT_COMMITTER_NAME: 't',
  GIT_COMMITTER_EMAIL: 't@example.org',
};

export async function startGitHttpPeer(opts: {
  verify: (username: string, password: string) => Promise<boolean>;
}): Promise<GitHttpPeer> {
  const root = mkdtempSync(join(tmpdir(), 'tw-git-'));
  const readme = `readme ${Date.now()}\n`;
  const work = join(root, 'work');
  mkdirSync(work);
  const git = (cwd: string, ...args: string[]): void => {
    execFileSync('git', args, { cwd, env: { ...process.env, ...GIT_ENV }, stdio: 'ignore' });
  };
  git(work, 'init', '-q', '-b', 'main');
  writeFileSync(join(work, 'README'), readme);
  git(work, 'add', 'README');
  git(work, 'commit', '-q', '-m', 'first');
  git(root, 'clone', '-q', '--bare', work, join(root, 'srv', 'repo.git'));

  const attempts: GitHttpPeer['attempts'] = [];
  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const m = /^Basic\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    const decoded = m ? Buffer.from(m[1] ?? '', 'base64').toString('utf8') : '';
    const i = decoded.indexOf(':');
    const username = i >= 0 ? decoded.slice(0, i) : '';
    const password = i >= 0 ? decoded.slice(i + 1) : '';
    const accepted = i >= 0 && (await opts.verify(username, password));
    if (i >= 0) attempts.push({ username, password, accepted });
    if (!accepted) {
      req.resume();
      res.writeHead(401, { 'www-authenticate': 'Basic realm="test"', 'content-type': 'text/plain' });
      res.end('authentication required\n');
      return;
    }
    const url = new URL(req.url ?? '/', 'http://x');
    const cgi = spawn('git', ['http-backend'], {
      env: {
        PATH: process.env['PATH'] ?? '/usr/bin:/bin',
        ...GIT_ENV,
        GIT_PROJECT_ROOT: join(root, 'srv'),
        GIT_HTTP_EXPORT_ALL: '1',
        PATH_INFO: decodeURIComponent(url.pathname),
        QUERY_STRING: url.search.slice(1),
        REQUEST_METHOD: req.method ?? 'GET',
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        REMOTE_USER: username,
        REMOTE_ADDR: '127.0.0.1',
        ...(req.headers['content-encoding'] ? { HTTP_CONTENT_ENCODING: req.headers['content-encoding'] } : {}),
        ...(req.headers['git-protocol'] ? { GIT_PROTOCOL: String(req.headers['git-protocol']) } : {}),
      },
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    req.pipe(cgi.stdin);
    let head = Buffer.alloc(0);
    let headerDone = false;
    cgi.stdout.on('data', (d: Buffer) => {
      if (headerDone) return void res.write(d);
      head = Buffer.concat([head, d]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      headerDone = true;
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of head.subarray(0, end).toString('latin1').split('\r\n')) {
        const c = line.indexOf(':');
        const k = line.slice(0, c).trim();
        const v = line.slice(c + 1).trim();
        if (k.toLowerCase() === 'status') status = Number(v.split(' ')[0]);
        else headers[k] = v;
      }
      res.writeHead(status, headers);
      res.write(head.subarray(end + 4));
    });
    await new Promise<void>((resolve) => cgi.on('close', () => resolve()));
    if (!headerDone) res.writeHead(500);
    res.end();
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    readme,
    attempts,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          rmSync(root, { recursive: true, force: true });
          resolve();
        });
      }),
  };
}
