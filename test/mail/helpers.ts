/** Shared fixtures for mail tests: a real SQLite store, recording events, a scriptable TokenSource. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as oidc from 'openid-client';
import { FakeClock } from '../../src/core/clock.js';
import { ReauthRequiredError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/logger.js';
import type { ConnectionState, EventSink, NewEvent, TokenSource } from '../../src/core/types.js';
import { connectionSchema, mailboxSchema, type Config } from '../../src/config/schema.js';
import { generateKey } from '../../src/store/key.js';
import { createSealer } from '../../src/store/seal.js';
import { SqliteStore } from '../../src/store/sqlite/index.js';
import type { Store } from '../../src/store/types.js';
import type { OidcPeer } from '../peers/oidc-provider.js';

export class RecordingEvents implements EventSink {
  readonly events: NewEvent[] = [];
  async emit(e: NewEvent): Promise<void> {
    this.events.push(e);
  }
  ofType(t: NewEvent['type']): NewEvent[] {
    return this.events.filter((e) => e.type === t);
  }
}

/** Returns configured tokens; `revoke(conn)` makes it throw ReauthRequiredError like the keeper. */
export class StubTokens implements TokenSource {
  readonly calls: string[] = [];
  private readonly tokens = new Map<string, string | (() => Promise<string>)>();
  private readonly dead = new Set<string>();
  states: Map<string, ConnectionState> | null = null;
  set(conn: string, token: string | (() => Promise<string>)): this {
    this.tokens.set(conn, token);
    return this;
  }
  revoke(conn: string): void {
    this.dead.add(conn);
  }
  heal(conn: string): void {
    this.dead.delete(conn);
  }
  async accessToken(conn: string): Promise<string> {
    this.calls.push(conn);
    if (this.dead.has(conn)) {
      throw new ReauthRequiredError(
        conn,
        { id: 'revoked', summary: 'The grant was revoked.', fix: 'Re-authorize.' },
        { reauth: { askedVia: ['ops'] } },
      );
    }
    const t = this.tokens.get(conn);
    if (t === undefined) throw new Error(`no token for ${conn}`);
    return typeof t === 'string' ? t : t();
  }
}

/** TokenSource with `stateOf` (what the keeper knows without I/O). */
export class StatefulStubTokens extends StubTokens {
  readonly stateMap = new Map<string, ConnectionState>();
  async stateOf(conn: string): Promise<ConnectionState | null> {
    return this.stateMap.get(conn) ?? 'healthy';
  }
}

export interface TestStore {
  store: Store;
  file: string;
  dir: string;
  key: Buffer;
  cleanup(): Promise<void>;
}

export function openTestStore(): TestStore {
  const dir = mkdtempSync(join(tmpdir(), 'tw-mail-'));
  const file = join(dir, 'state.db');
  const key = generateKey();
  const store = SqliteStore.open(file, { sealer: createSealer(key), keySpec: 'test', synchronous: 'normal' });
  return {
    store,
    file,
    dir,
    key,
    async cleanup() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function mailConfig(
  mailboxes: Record<string, unknown>,
  connections: Record<string, unknown> = {},
): Pick<Config, 'mailboxes' | 'connections'> {
  return {
    mailboxes: Object.fromEntries(Object.entries(mailboxes).map(([k, v]) => [k, mailboxSchema.parse(v)])),
    connections: Object.fromEntries(Object.entries(connections).map(([k, v]) => [k, connectionSchema.parse(v)])),
  };
}

export const googleConn = (
  scopes: string[] = ['https://www.googleapis.com/auth/gmail.send', 'https://www.googleapis.com/auth/gmail.readonly'],
): Record<string, unknown> => ({
  provider: 'google',
  client_id: 'cid',
  client_secret: 'secret',
  scopes,
});

export { FakeClock, silentLogger };

/** A real authorization code + PKCE grant at the oidc-provider peer, as `accountId`. */
export async function obtainAccessToken(peer: OidcPeer, accountId: string): Promise<string> {
  const config = await oidc.discovery(new URL(peer.issuer), peer.clientId, peer.clientSecret, undefined, {
    execute: [oidc.allowInsecureRequests],
  });
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const redirect = peer.redirectUris[0] as string;
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: redirect,
    scope: 'openid offline_access',
    prompt: 'consent',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
  });
  const final = await peer.approveAuthorization(url.href, { accountId });
  const tokens = await oidc.authorizationCodeGrant(config, new URL(final), {
    pkceCodeVerifier: verifier,
    expectedState: state,
  });
  return tokens.access_token;
}
