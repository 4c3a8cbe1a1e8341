/**
 * The loopback redirect URI (RFC 8252 §7.3) that `tokenwarden connect` binds while it waits, so
 * the browser's redirect completes the flow on this machine without a daemon.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import { completeFlow, directCompleter } from '../actions/complete-flow.js';
import type { CompletedFlow } from '../reauth/flows.js';
import { partsOf, type Warden } from '../warden.js';

export interface Listener {
  result: Promise<CompletedFlow>;
  close(): Promise<void>;
}

/** True if `state` belongs to an open flow of `connection`; otherwise answers 400 itself. */
async function answerIfOurs(
  warden: Warden,
  connection: string,
  state: string | null,
  res: ServerResponse,
): Promise<boolean> {
  const flow = state
    ? await partsOf(warden)
        .store.findFlowByState(state)
        .catch(() => null)
    : null;
  if (flow && flow.connection === connection && flow.status === 'open') return true;
  res
    .writeHead(400, { 'content-type': 'text/plain; charset=utf-8' })
    .end('Not accepted: this answer does not belong to the authorization being waited for.');
  return false;
}

/** Bind the loopback redirect URI (RFC 8252 §7.3) so the browser's redirect completes the flow. */
export async function loopbackListener(
  warden: Warden,
  redirectUri: string | null,
  connection: string,
): Promise<Listener | null> {
  if (!redirectUri) return null;
  const u = new URL(redirectUri);
  if (u.protocol !== 'http:' || !['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname) || !u.port) return null;
  let resolve!: (v: CompletedFlow) => void;
  let reject!: (e: unknown) => void;
  const result = new Promise<CompletedFlow>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  result.catch(() => undefined);
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', redirectUri);
    if (url.pathname !== u.pathname || (!url.searchParams.has('code') && !url.searchParams.has('error'))) {
      res.writeHead(404).end();
      return;
    }
    // Any web page can send the browser here: only an answer carrying the state of an open flow
    // of this connection is tried, so a forged one cannot end the wait.
    void answerIfOurs(warden, connection, url.searchParams.get('state'), res).then((ours) => {
      if (ours) complete(url, res);
    });
  });
  const complete = (url: URL, res: ServerResponse): void => {
    completeFlow(directCompleter(partsOf(warden).flows), url.toString(), { via: 'loopback callback' }).then(
      (done) => {
        res
          .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
          .end('<!doctype html><title>tokenwarden</title><p>Authorized. You can close this tab.</p>');
        resolve(done);
      },
      (err: unknown) => {
        res
          .writeHead(400, { 'content-type': 'text/plain; charset=utf-8' })
          .end(`Not authorized: ${(err as Error).message}`);
        reject(err);
      },
    );
  };
  const ok = await new Promise<boolean>((res) => {
    server.once('error', () => res(false));
    server.listen(Number(u.port), u.hostname === 'localhost' ? '127.0.0.1' : u.hostname.replace(/[[\]]/g, ''), () =>
      res(true),
    );
  });
  if (!ok) return null; // port busy (e.g. the daemon owns it): paste still works
  return { result, close: () => new Promise((r) => server.close(() => r())) };
}
