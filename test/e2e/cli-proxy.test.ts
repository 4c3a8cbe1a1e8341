/**
 * The CLI behind a corporate proxy: with HTTP_PROXY set (every peer here is http on loopback),
 * the provider's discovery and token requests, a channel send (webhook) and the Gmail API call
 * all go through the proxy; with NO_PROXY naming the host, none do — and both work.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeWorkspace, type Workspace } from '../helpers/workspace.js';
import { sandboxConnection } from '../helpers/sandbox.js';
import { startGmailFake, type GmailFake } from '../peers/gmail-fake.js';
import { startCountingProxy, type CountingProxy } from '../peers/http-proxy.js';
import { startHttpSink, type HttpSink } from '../peers/http-sink.js';
import { startOidcProvider, type OidcPeer } from '../peers/oidc-provider.js';

const REDIRECT = 'http://127.0.0.1:1/oauth/callback';
let peer: OidcPeer;
let gmail: GmailFake;
let sink: HttpSink;
let proxy: CountingProxy;
let ws: Workspace;

const portOf = (url: string): number => Number(new URL(url).port);
let mails = 0;

beforeAll(async () => {
  peer = await startOidcProvider({ redirectUris: [REDIRECT], accessTokenTtl: 600, refreshTokenTtl: 3600 });
  gmail = await startGmailFake({
    verifyToken: async (t) => (await peer.introspect(t)).active,
    address: 'agent@example.com',
    scopes: ['https://www.googleapis.com/auth/gmail.send'],
  });
  sink = await startHttpSink();
  proxy = await startCountingProxy();
  ws = makeWorkspace({
    connections: { gmail: sandboxConnection(peer, REDIRECT) },
    channels: { hook: { type: 'webhook', url: `${sink.url}/notify` } },
    mailboxes: {
      agent: { address: 'agent@example.com', send: [{ gmail: { connection: 'gmail', api_base: gmail.url } }] },
    },
  });
});

afterAll(async () => {
  await proxy?.stop();
  await sink?.stop();
  await gmail?.stop();
  await peer?.stop();
  ws?.cleanup();
});

/** Authorize (link over the webhook channel, token exchange) and send one mail, all through the CLI. */
async function connectAndSend(env: NodeJS.ProcessEnv): Promise<void> {
  const sinkBefore = sink.requests.length;
  const opened = await ws.cli(['connect', 'gmail', '--via', 'hook', '--no-wait', '--json'], { env });
  expect(opened.stderr).toBe('');
  expect(opened.code).toBe(0);
  expect(sink.requests.length).toBe(sinkBefore + 1);
  const link = (sink.requests.at(-1)?.json<{ url?: string }>() ?? {}).url;
  expect(link).toMatch(/^http:\/\/127\.0\.0\.1:\d+\//);
  const tokenBefore = peer.tokenRequests('authorization_code');
  const done = await ws.cli(['complete', await peer.approveAuthorization(link as string)], { env });
  expect(done.stderr).toBe('');
  expect(done.code).toBe(0);
  expect(peer.tokenRequests('authorization_code')).toBe(tokenBefore + 1);
  const sentBefore = gmail.sent.length;
  const sent = await ws.cli(
    ['mail', 'send', 'agent', '--to', 'bob@example.org', '--subject', `hi ${++mails}`, '--text', 'x'],
    {
      env,
    },
  );
  expect(sent.stderr).toBe('');
  expect(sent.code).toBe(0);
  expect(gmail.sent.length).toBe(sentBefore + 1);
}

describe('tokenwarden behind an HTTP proxy', () => {
  it('sends provider, channel and Gmail requests through HTTP_PROXY', async () => {
    const before = proxy.hits.length;
    await connectAndSend({ HTTP_PROXY: proxy.url, NO_PROXY: '' });
    const hits = proxy.hits.slice(before);
    const issuerPort = portOf(peer.issuer);
    // Provider requests (node:http client): absolute-URI form, so the proxy sees each one.
    const provider = hits.filter((h) => h.target === `127.0.0.1:${issuerPort}`);
    expect(provider.some((h) => h.kind === 'forward' && h.method === 'GET' && /well-known/.test(h.path ?? ''))).toBe(
      true,
    );
    expect(provider.filter((h) => h.kind === 'forward' && h.method === 'POST' && h.path === '/token')).toHaveLength(1);
    // Channel and Gmail API (fetch through undici's ProxyAgent): a CONNECT tunnel each.
    expect(hits.filter((h) => h.kind === 'connect' && h.target === `127.0.0.1:${portOf(sink.url)}`).length).toBe(1);
    expect(hits.filter((h) => h.kind === 'connect' && h.target === `127.0.0.1:${portOf(gmail.url)}`).length).toBe(1);
  });

  it('lowercase http_proxy works the same', async () => {
    const before = proxy.hitsTo(portOf(gmail.url)).length;
    await connectAndSend({ http_proxy: proxy.url });
    expect(proxy.hitsTo(portOf(gmail.url)).length).toBe(before + 1);
    expect(proxy.hitsTo(portOf(peer.issuer)).some((h) => h.path === '/token')).toBe(true);
  });

  it('goes direct for every request when NO_PROXY names the host', async () => {
    const before = proxy.hits.length;
    await connectAndSend({ HTTP_PROXY: proxy.url, HTTPS_PROXY: proxy.url, NO_PROXY: 'example.com, 127.0.0.1' });
    expect(proxy.hits.slice(before)).toEqual([]);
  });

  it('a bad proxy variable is a clear configuration error before anything is sent', async () => {
    const sinkBefore = sink.requests.length;
    const r = await ws.cli(['connect', 'gmail', '--via', 'hook', '--no-wait'], {
      env: { HTTP_PROXY: 'socks5://u:hunter2@127.0.0.1:1080' },
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/HTTP_PROXY: only http:\/\/ proxies are supported/);
    expect(r.stderr).not.toContain('hunter2');
    expect(sink.requests.length).toBe(sinkBefore);
  });
});
