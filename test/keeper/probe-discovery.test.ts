/**
 * The userinfo probe of a generic OIDC connection finds its endpoint through the issuer's
 * discovery document, with the same cache and endpoint policy as the grant client: one
 * `.well-known` request for many probes, and never a bearer token to a plain-http endpoint
 * that is not on loopback. Against a real oidc-provider.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { probeConnection } from '../../src/keeper/probe.js';
import { defaultDiscoveryCache } from '../../src/oauth/discovery-cache.js';
import { openWarden, partsOf, type Warden } from '../../src/warden.js';
import { startAuthorized, type Authorized } from '../helpers/authorized.js';

let a: Authorized;

beforeAll(async () => {
  a = await startAuthorized();
  await a.authorize();
});

afterAll(async () => {
  await a?.stop();
});

beforeEach(() => defaultDiscoveryCache.clear());

/** A warden whose requests are seen (and, for discovery, optionally rewritten) by the test. */
async function wardenSeeing(
  seen: string[],
  rewriteDiscovery?: (md: Record<string, unknown>) => Record<string, unknown>,
  userinfoStatus?: number,
): Promise<Warden> {
  const fetchFn = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = input instanceof Request ? input.url : String(input);
    seen.push(url);
    if (userinfoStatus && url.startsWith(`${a.peer.issuer}/me`)) return new Response(null, { status: userinfoStatus });
    const res = await globalThis.fetch(input, init);
    if (!rewriteDiscovery || !url.includes('/.well-known/')) return res;
    const md = rewriteDiscovery((await res.json()) as Record<string, unknown>);
    return new Response(JSON.stringify(md), { status: 200, headers: { 'content-type': 'application/json' } });
  };
  return openWarden({ configPath: a.ws.configPath, fetch: fetchFn as typeof fetch });
}

describe('probe discovery', () => {
  it('probes userinfo with one discovery request for many probes', async () => {
    const seen: string[] = [];
    const w = await wardenSeeing(seen);
    try {
      const first = await probeConnection(partsOf(w), 'sandbox');
      const second = await probeConnection(partsOf(w), 'sandbox');
      expect(first).toMatchObject({ ok: true, outcome: 'ok', status: 200, account: 'alice' });
      expect(second).toMatchObject({ ok: true, outcome: 'ok' });
      expect(seen.filter((u) => u.includes('/.well-known/openid-configuration'))).toHaveLength(1);
      expect(seen.filter((u) => u.startsWith(`${a.peer.issuer}/me`))).toHaveLength(2);
    } finally {
      await w.close();
    }
  });

  it('refuses a discovered userinfo endpoint on plain http off loopback, sending nothing there', async () => {
    const seen: string[] = [];
    const w = await wardenSeeing(seen, (md) => ({ ...md, userinfo_endpoint: 'http://userinfo.example.com/me' }));
    try {
      const out = await probeConnection(partsOf(w), 'sandbox');
      expect(out).toMatchObject({ ok: false, outcome: 'failed' });
      expect(out.detail).toMatch(/userinfo endpoint: http:\/\/ is allowed only to a loopback host/);
      expect(seen.some((u) => u.includes('example.com'))).toBe(false);
    } finally {
      await w.close();
    }
  });

  it.each([408, 425, 503])('a userinfo answer of HTTP %i is "unavailable", not a failure', async (status) => {
    const w = await wardenSeeing([], undefined, status);
    try {
      expect(await probeConnection(partsOf(w), 'sandbox')).toMatchObject({ ok: false, outcome: 'unavailable', status });
    } finally {
      await w.close();
    }
  });

  it('a userinfo answer of HTTP 403 is a failure', async () => {
    const w = await wardenSeeing([], undefined, 403);
    try {
      expect(await probeConnection(partsOf(w), 'sandbox')).toMatchObject({ ok: false, outcome: 'failed', status: 403 });
    } finally {
      await w.close();
    }
  });
});
