/**
 * One status view: the library (`warden.status()`), the HTTP API, the dashboard's model, MCP's
 * `credential_status` and the daemon's scheduler plan the same renewal time for a connection
 * whose `reauth_lead` before the predicted death falls in its quiet hours — the time moved out
 * of them, not `refreshExpiresAt − reauth_lead`.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { createMcpServer } from '../../src/mcp/server.js';
import { createOrchestrator } from '../../src/reauth/orchestrator.js';
import { isQuiet, parseQuietHours } from '../../src/reauth/quiet-hours.js';
import { createApp } from '../../src/server/app.js';
import { loadModel } from '../../src/server/dashboard/model.js';
import { openWarden, partsOf, type Warden } from '../../src/warden.js';

const HOUR = 3_600_000;
const QUIET = '22:00-07:00 UTC';
const API_KEY = 'status-agree-api-key-0123456789';
/** The refresh token dies at 23:30 UTC; 24 h of lead is 23:30 the day before: quiet hours. */
const DEATH = Date.UTC(2026, 4, 12, 23, 30);
const NAIVE = DEATH - 24 * HOUR;

let dir: string;
let warden: Warden;
const clock = new FakeClock(Date.UTC(2026, 4, 1, 12, 0));

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tw-status-agree-'));
  warden = await openWarden({
    config: {
      store: `sqlite:${join(dir, 'state.db')}`,
      key: 'env:TW_KEY',
      server: { api_key: API_KEY },
      connections: {
        mail: {
          provider: 'oauth2',
          client_id: 'cid',
          client_secret: 'csecret',
          redirect_uri: 'http://127.0.0.1:1/oauth/callback',
          auth_url: 'http://127.0.0.1:1/auth',
          token_url: 'http://127.0.0.1:1/token',
          flow: 'auth_code',
          scopes: ['mail'],
          reauth_lead: '24h',
          quiet_hours: QUIET,
        },
      },
    },
    baseDir: dir,
    env: { TW_KEY: randomBytes(32).toString('base64') },
    clock,
    logger: silentLogger,
  });
  const { store } = partsOf(warden);
  await store.ensureConnection('mail', clock.now());
  await store.updateConnection(
    'mail',
    {
      state: 'healthy',
      grantedAt: DEATH - 30 * 24 * HOUR,
      refreshExpiresAt: DEATH,
      accessExpiresAt: clock.now() + HOUR,
    },
    { now: clock.now() },
  );
});

afterAll(async () => {
  await warden?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('one renewal plan, quiet hours included', () => {
  it('the library, the API, the dashboard, MCP and the scheduler agree', async () => {
    const [lib] = await warden.status();
    const planned = lib?.plannedRenewalAt as number;
    expect(planned).toBeTypeOf('number');
    // Out of the quiet hours and before the death: not the naive lead.
    expect(planned).not.toBe(NAIVE);
    expect(isQuiet(parseQuietHours(QUIET), NAIVE)).toBe(true);
    expect(isQuiet(parseQuietHours(QUIET), planned)).toBe(false);
    expect(planned).toBeLessThan(DEATH);
    const iso = new Date(planned).toISOString();

    const orchestrator = createOrchestrator(partsOf(warden), { channels: new Map(), clock });
    const ctx = { warden, orchestrator, apiKey: API_KEY, clock, logger: silentLogger, baseUrl: 'http://127.0.0.1:1' };
    const app = createApp(ctx);
    const res = await app.request('/api/v1/connections/mail', { headers: { authorization: `Bearer ${API_KEY}` } });
    expect(res.status).toBe(200);
    const api = (await res.json()) as { renewal_planned_at: string | null };
    expect(api.renewal_planned_at).toBe(iso);

    const list = await app.request('/api/v1/connections', { headers: { authorization: `Bearer ${API_KEY}` } });
    const all = (await list.json()) as { connections: Array<{ name: string; renewal_planned_at: string | null }> };
    expect(all.connections.find((c) => c.name === 'mail')?.renewal_planned_at).toBe(iso);

    const model = await loadModel(ctx);
    expect(model.connections.find((c) => c.name === 'mail')?.renewal_planned_at).toBe(iso);

    const server = createMcpServer(warden);
    const [a, b] = InMemoryTransport.createLinkedPair();
    const client = new Client({ name: 'status-agree', version: '1' });
    await Promise.all([server.connect(a), client.connect(b)]);
    try {
      const r = await client.callTool({ name: 'credential_status', arguments: { connection: 'mail' } });
      const facts = (r.structuredContent as { connections: Array<{ renewal_planned_at: string | null }> })
        .connections[0];
      expect(facts?.renewal_planned_at).toBe(iso);
    } finally {
      await client.close();
      await server.close();
    }

    const row = await partsOf(warden).store.getConnection('mail');
    expect(orchestrator.renewalAt('mail', row!)).toBe(planned);
  });
});
