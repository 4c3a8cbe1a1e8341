/**
 * A hostile (or merely careless) token endpoint that echoes the request — form body and
 * Authorization header — in `error_description` or even in `error`. Nothing of the client
 * secret, refresh token, authorization code or code verifier may reach the store, events,
 * logs, the HTTP API (GET /connections, the 409 body), `status --json` or the error an MCP
 * tool would show; and a provider's text is kept at most MAX_PROVIDER_TEXT characters long.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReauthRequiredError } from '../../src/core/errors.js';
import { MAX_PROVIDER_TEXT } from '../../src/oauth/translate-error.js';
import { listenHttp, readBody, sendJson } from '../peers/http-fake.js';
import { startHarness, type Harness } from '../server/harness.js';
import { partsOf } from '../../src/warden.js';

// Characters that change under URL and form encoding, so every encoded form is exercised.
const CLIENT_SECRET = 'cs/Q+x=hostile-client-secret-0123456789';
const REFRESH = 'rt_1/2+3=hostile-refresh-token-abcdefghijklmnop';
const ACCESS = 'at_hostile-access-token-qrstuvwxyz0123456789';
const CODE = 'code_hostile-authorization-code-9876543210';

let endpoint: { url: string; stop(): Promise<void> };
let h: Harness;
/** Every request body the endpoint saw (to prove the secrets were really sent and echoed). */
const seen: string[] = [];

/** Every place a provider's text could end up. */
async function everything(): Promise<string> {
  const w = h.warden;
  const kept = async (name: string) => {
    const row = await partsOf(w).store.getConnection(name); // decrypted: only the fields that hold provider texts
    return JSON.stringify({ cause: row?.cause, lastError: row?.lastError, state: row?.state });
  };
  const token = await h.api('/api/v1/connections/evil/token', { method: 'POST' });
  const parts = [
    await kept('evil'),
    await kept('evil2'),
    JSON.stringify(await partsOf(w).store.listEvents({ limit: 1000 })),
    JSON.stringify(await w.status()),
    await (await h.api('/api/v1/connections')).text(),
    await (await h.api('/api/v1/connections/evil')).text(),
    `${token.status} ${await token.text()}`,
    h.logs.join('\n'),
  ];
  const dir = join(h.ws.dir, '.tokenwarden');
  for (const f of readdirSync(dir)) if (f.startsWith('state.db')) parts.push(readFileSync(join(dir, f), 'latin1'));
  return parts.join('\n');
}

function expectNoSecret(text: string, secrets: string[]): void {
  for (const s of secrets) {
    for (const form of [s, encodeURIComponent(s), new URLSearchParams([['', s]]).toString().slice(1)]) {
      expect(text).not.toContain(form);
      // Not even a cut-off run of it.
      expect(text).not.toContain(form.slice(0, 16));
      expect(text).not.toContain(form.slice(-16));
    }
  }
  expect(text).not.toContain(Buffer.from(`evil-client:${CLIENT_SECRET}`).toString('base64').slice(0, 20));
  expect(text).not.toContain(
    Buffer.from(`evil-client:${encodeURIComponent(CLIENT_SECRET)}`)
      .toString('base64')
      .slice(0, 20),
  );
}

beforeAll(async () => {
  endpoint = await listenHttp(async (req, res) => {
    const body = (await readBody(req)).toString('utf8');
    seen.push(body);
    const echo = `we received ${body} with authorization ${req.headers.authorization ?? '-'}`;
    if (req.url === '/token-error-echo') return sendJson(res, 400, { error: `bad_request: ${echo}` });
    // A long answer: the echo first, then filler past any sensible length.
    sendJson(res, 400, { error: 'invalid_grant', error_description: `${echo} ${'x'.repeat(5000)}` });
  });
  const oauth2 = (path: string, redirectUri: string) => ({
    provider: 'oauth2',
    client_id: 'evil-client',
    client_secret: CLIENT_SECRET,
    auth_url: `${endpoint.url}/auth`,
    token_url: `${endpoint.url}${path}`,
    redirect_uri: redirectUri,
    scopes: ['read'],
    flow: 'auth_code',
  });
  h = await startHarness({
    extraConnections: async (_peer, redirectUri) => ({
      evil: oauth2('/token', redirectUri),
      evil2: oauth2('/token-error-echo', redirectUri),
    }),
  });
  for (const name of ['evil', 'evil2'])
    await partsOf(h.warden).keeper.storeGrant(name, {
      accessToken: ACCESS,
      refreshToken: REFRESH,
      tokenType: 'Bearer',
      expiresAt: Date.now() - 1000,
    });
}, 60_000);

afterAll(async () => {
  await h?.close();
  await endpoint?.stop();
});

describe('a token endpoint that echoes the request in its error', () => {
  it('refresh: the definitive refusal is diagnosed, its description scrubbed and capped everywhere it is kept', async () => {
    const err = await partsOf(h.warden)
      .keeper.forceRefresh('evil')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ReauthRequiredError);
    // The secrets really were sent, so an unscrubbed echo would have carried them.
    expect(seen.some((b) => b.includes(encodeURIComponent(REFRESH)))).toBe(true);
    const row = await partsOf(h.warden).store.getConnection('evil');
    expect(row?.state).toBe('reauth_required');
    const desc = row?.cause?.providerDescription ?? '';
    expect(desc).toMatch(/^we received .*\[redacted\]/);
    expect(desc.length).toBeLessThanOrEqual(MAX_PROVIDER_TEXT);
    const everywhere = `${JSON.stringify((err as ReauthRequiredError).toJSON())}\n${(err as Error).message}\n${await everything()}`;
    // The 409 body of POST /connections/evil/token carries the cause with the provider's words.
    expect(everywhere).toMatch(/409 \{"error":\{"code":"TW_REAUTH_REQUIRED".*"providerDescription":"we received/);
    expectNoSecret(everywhere, [CLIENT_SECRET, REFRESH, ACCESS]);
    const cli = await h.ws.cli(['status', '--json']);
    expect(cli.stdout).toMatch(/"name":"evil".*"providerDescription":"we received /);
    expectNoSecret(cli.stdout + cli.stderr, [CLIENT_SECRET, REFRESH, ACCESS]);
  });

  it('refresh: an echo in the `error` code itself (a transient refusal) reaches lastError and events scrubbed', async () => {
    await partsOf(h.warden)
      .keeper.forceRefresh('evil2')
      .catch((e: unknown) => e);
    const row = await partsOf(h.warden).store.getConnection('evil2');
    expect(row?.lastError ?? '').toMatch(/^Provider answered bad_request: we received/);
    expect((row?.lastError ?? '').length).toBeLessThanOrEqual(MAX_PROVIDER_TEXT + 50);
    expectNoSecret(`${row?.lastError}\n${await everything()}`, [CLIENT_SECRET, REFRESH, ACCESS]);
  });

  it('code exchange: the code, the code verifier and the client secret stay out of the error', async () => {
    const flow = await partsOf(h.warden).flows.open('evil', { reason: 'manual' });
    const stored = await partsOf(h.warden).store.getFlow(flow.id);
    const verifier = stored?.codeVerifier ?? '';
    expect(verifier.length).toBeGreaterThan(40);
    const state = new URL(flow.url).searchParams.get('state') ?? '';
    const redirect = h.warden.config.connections['evil']?.redirect_uri ?? '';
    const err = await partsOf(h.warden)
      .flows.completeFromInput(`${redirect}?code=${encodeURIComponent(CODE)}&state=${state}`, { via: 'test' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(seen.some((b) => b.includes(encodeURIComponent(CODE)) && b.includes(verifier))).toBe(true);
    const text = `${(err as Error).message}\n${JSON.stringify(err)}\n${await everything()}`;
    expectNoSecret(text, [CLIENT_SECRET, CODE, verifier]);
  });
});
