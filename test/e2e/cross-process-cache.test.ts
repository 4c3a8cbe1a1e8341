/**
 * A process's cached access token follows the store: when another process finds the grant dead
 * or re-authorizes the connection, the next call here sees it (SQLite: PRAGMA data_version feed).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReauthRequiredError } from '../../src/core/errors.js';
import { generateKey } from '../../src/store/key.js';
import type { SqliteStore } from '../../src/store/sqlite/index.js';
import { openWarden, type Warden, partsOf } from '../../src/warden.js';
import { startOidcProvider, type OidcPeer } from '../peers/oidc-provider.js';
import { sandboxConnection } from '../helpers/sandbox.js';

const REDIRECT = 'http://127.0.0.1:1/oauth/callback';
let peer: OidcPeer;
let dir: string;
let a: Warden;
let b: Warden;

async function authorize(w: Warden): Promise<void> {
  const flow = await partsOf(w).flows.open('sandbox', { fresh: true });
  await partsOf(w).flows.completeFromInput(await peer.approveAuthorization(flow.url), { via: 'test' });
}

beforeAll(async () => {
  peer = await startOidcProvider({ redirectUris: [REDIRECT], accessTokenTtl: 600, refreshTokenTtl: 3600 });
  dir = mkdtempSync(join(tmpdir(), 'tw-xcache-'));
  const env = { K: generateKey().toString('base64') };
  const config = {
    store: 'sqlite:state.db',
    key: 'env:K',
    connections: {
      sandbox: sandboxConnection(peer, REDIRECT),
    },
  };
  a = await openWarden({ config, baseDir: dir, env, owner: 'a' });
  b = await openWarden({ config, baseDir: dir, env, owner: 'b' });
});

afterAll(async () => {
  await a?.close();
  await b?.close();
  await peer?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('cached tokens across processes', () => {
  it('drops a cached token when another process marks the grant dead or re-authorizes', async () => {
    await authorize(b);
    const first = await a.accessToken('sandbox'); // cached in A
    await partsOf(b).keeper.markReauthRequired('sandbox', {
      id: 'revoked',
      summary: 'The grant was revoked.',
      fix: 'Re-authorize.',
    });
    (partsOf(a).store as SqliteStore).pollChanges(); // what A's 1 s change feed does
    await expect(a.accessToken('sandbox')).rejects.toBeInstanceOf(ReauthRequiredError);

    await authorize(b);
    (partsOf(a).store as SqliteStore).pollChanges();
    const second = await a.accessToken('sandbox');
    expect(second).not.toBe(first);
    expect((await peer.introspect(second)).active).toBe(true);
  });
});
