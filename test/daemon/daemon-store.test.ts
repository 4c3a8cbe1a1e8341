/**
 * What other processes see while `tokenwarden serve` holds a store: `rotate-key` refuses
 * (nothing changes), `status --json` and the HTTP API show one connection view with the same
 * fields, and `/healthz` turns 503 once the daemon can no longer open the store's secrets.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resealSqlite } from '../../src/cli/rotate-key.js';
import { decodeKey, generateKey } from '../../src/store/key.js';
import { createSealer } from '../../src/store/seal.js';
import { makeWorkspace, type Workspace } from '../helpers/workspace.js';
import { freePort, spawnServe, type ServeChild } from './helpers.js';

const API_KEY = 'tw_daemon_store_test_key_0123456789';
let ws: Workspace;
let serve: ServeChild | null = null;

beforeAll(async () => {
  ws = makeWorkspace({});
  ws.writeConfig({
    server: { listen: `127.0.0.1:${await freePort()}`, api_key: API_KEY },
    connections: {
      api: {
        provider: 'oauth2',
        client_id: 'c',
        auth_url: 'https://id.example.com/auth',
        token_url: 'https://id.example.com/token',
        redirect_uri: 'http://127.0.0.1:7465/oauth/callback',
        scopes: ['api'],
      },
    },
  });
  serve = await spawnServe(ws);
});

afterAll(async () => {
  await serve?.stop('SIGKILL');
  ws?.cleanup();
});

describe('a store held by a running daemon', () => {
  it('rotate-key refuses with a clear message; the key is unchanged and still opens the store', async () => {
    const keyPath = join(ws.dir, '.tokenwarden', 'key');
    const key = readFileSync(keyPath);
    const r = await ws.cli(['rotate-key']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/a daemon is running on this store .*stop it first.*Nothing was changed/);
    expect(readFileSync(keyPath).equals(key)).toBe(true);
    expect((await ws.cli(['status'])).code).toBe(0); // the store still opens with the same key
  });

  it('status --json is the HTTP API connection view: same fields, same values', async () => {
    const cli = JSON.parse((await ws.cli(['status', '--json'])).stdout) as {
      connections: object[];
      daemon: { running: boolean };
    };
    const res = await fetch(`${serve?.url}/api/v1/connections`, { headers: { authorization: `Bearer ${API_KEY}` } });
    expect(res.status).toBe(200);
    const api = (await res.json()) as { connections: object[] };
    expect(cli.connections).toHaveLength(1);
    expect(Object.keys(cli.connections[0] as object).sort()).toEqual(Object.keys(api.connections[0] as object).sort());
    expect(cli.connections).toEqual(api.connections);
    expect(cli.daemon.running).toBe(true);
    expect(cli.connections[0]).toMatchObject({ name: 'api', state: 'unauthorized', open_flow: null });
  });

  it('/healthz turns 503 once the store is re-sealed under another key behind the daemon', async () => {
    const ok = await fetch(`${serve?.url}/healthz`);
    expect(ok.status).toBe(200);
    // Without the API key: counts only (the details name hosts and config keys).
    expect(await ok.json()).toEqual({ ok: true, warnings: 0, failing: 0 });
    const okWithKey = await fetch(`${serve?.url}/healthz`, { headers: { authorization: `Bearer ${API_KEY}` } });
    expect(await okWithKey.json()).toEqual({ ok: true, warnings: [], failing: [] });
    const oldKey = decodeKey(readFileSync(join(ws.dir, '.tokenwarden', 'key'), 'utf8'), 'test');
    resealSqlite(ws.dbPath, createSealer(oldKey), createSealer(generateKey()));
    const res = await fetch(`${serve?.url}/healthz`);
    expect(res.status).toBe(503);
    const body = (await res.json()) as { ok: boolean; error: string };
    expect(body.ok).toBe(false);
    expect(body.error).toMatch(/can no longer open the store.s secrets: the store was re-sealed under another key/);
    expect(body.error).not.toMatch(/file:/); // the key's location only for API-key holders
    const withKey = await fetch(`${serve?.url}/healthz`, { headers: { authorization: `Bearer ${API_KEY}` } });
    expect(withKey.status).toBe(503);
    expect(((await withKey.json()) as { error: string }).error).toMatch(/encryption key does not match/);
  });

  it('rotate-key runs once the daemon has stopped', async () => {
    // (The store was re-sealed above; a fresh one shows the lease is gone after a clean stop.)
    expect(await serve?.stop()).toBe(0);
    serve = null;
    const w2 = makeWorkspace({ server: { listen: `127.0.0.1:${await freePort()}` } });
    try {
      const s = await spawnServe(w2);
      expect((await w2.cli(['rotate-key'])).code).toBe(2);
      expect(await s.stop()).toBe(0);
      const r = await w2.cli(['rotate-key']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    } finally {
      w2.cleanup();
    }
  });
});
