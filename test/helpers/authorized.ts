/**
 * A workspace whose `sandbox` connection is authorized at a real oidc-provider (the human's
 * consent given headlessly, the redirect pasted back), for tests of the commands that hand a
 * token to other programs.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openWarden, partsOf } from '../../src/warden.js';
import { startOidcProvider, type OidcPeer } from '../peers/oidc-provider.js';
import { sandboxConnection } from './sandbox.js';
import { CLI, makeWorkspace, type Workspace } from './workspace.js';

export const REDIRECT = 'http://127.0.0.1:1/oauth/callback';

export interface Authorized {
  peer: OidcPeer;
  ws: Workspace;
  /** Rewrite the config: `sandbox` plus these connection settings and extra connections. */
  configure(sandboxExtra?: Record<string, unknown>, more?: Record<string, unknown>): void;
  /** Run the authorization-code flow for `sandbox` (again): a fresh grant. */
  authorize(): Promise<void>;
  /** Make the stored access token look expired without sleeping. */
  expire(): Promise<void>;
  /** The connection's current stored access token. */
  storedToken(): Promise<string | null>;
  stop(): Promise<void>;
}

export async function startAuthorized(
  sandboxExtra: Record<string, unknown> = {},
  more: Record<string, unknown> = {},
): Promise<Authorized> {
  const peer = await startOidcProvider({ redirectUris: [REDIRECT], accessTokenTtl: 600, refreshTokenTtl: 3600 });
  const ws = makeWorkspace({});
  const a: Authorized = {
    peer,
    ws,
    configure(extra = {}, others = {}) {
      ws.writeConfig({
        connections: {
          sandbox: sandboxConnection(peer, REDIRECT, { scopes: ['openid', 'offline_access', 'email'], ...extra }),
          ...others,
        },
      });
    },
    async authorize() {
      const w = await openWarden({ configPath: ws.configPath });
      try {
        const flow = await partsOf(w).flows.open('sandbox', { reason: 'manual' });
        await partsOf(w).flows.completeFromInput(await peer.approveAuthorization(flow.url), { via: 'test' });
      } finally {
        await w.close();
      }
    },
    async expire() {
      const w = await openWarden({ configPath: ws.configPath });
      try {
        await partsOf(w).store.updateConnection(
          'sandbox',
          { accessExpiresAt: Date.now() - 1_000 },
          { now: Date.now() },
        );
      } finally {
        await w.close();
      }
    },
    async storedToken() {
      const w = await openWarden({ configPath: ws.configPath });
      try {
        return (await partsOf(w).store.getConnection('sandbox'))?.accessToken ?? null;
      } finally {
        await w.close();
      }
    },
    async stop() {
      await peer.stop();
      ws.cleanup();
    },
  };
  a.configure(sandboxExtra, more);
  return a;
}

/** A `bin` folder under `dir` with `tokenwarden` (the built CLI), as after a global install; returns its path. */
export function cliOnPath(dir: string): string {
  const bin = join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, 'tokenwarden'), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`);
  chmodSync(join(bin, 'tokenwarden'), 0o755);
  return bin;
}
