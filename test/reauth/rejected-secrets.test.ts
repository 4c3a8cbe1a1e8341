/**
 * A service-account key the provider refuses (deleted or replaced): the keeper names the key
 * file and where to create a new one, the orchestrator tells the human through the connection's
 * channel, and no browser flow is ever opened. The token endpoint is a local stand-in that
 * verifies RS256 assertions against the key it knows, answering like Google
 * (`invalid_grant`, "Invalid JWT Signature.").
 */
import { generateKeyPairSync, verify } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConsoleChannel } from '../../src/channels/console.js';
import { ReauthRequiredError } from '../../src/core/errors.js';
import { createOrchestrator, type ReauthOrchestrator } from '../../src/reauth/orchestrator.js';
import { openWarden, type Warden, partsOf } from '../../src/warden.js';
import { makeWorkspace, type Workspace } from '../helpers/workspace.js';
import { startFakeHttp, type FakeHttp } from '../oauth/fake-http.js';

let fake: FakeHttp;
let ws: Workspace;
let warden: Warden;
let orch: ReauthOrchestrator;
const said: string[] = [];

beforeAll(async () => {
  const known = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const deleted = generateKeyPairSync('rsa', { modulusLength: 2048 });
  fake = await startFakeHttp();
  fake.route('POST', '/token', (r) => {
    const [h, c, s] = (r.form.get('assertion') ?? '').split('.');
    const ok =
      h && c && s && verify('RSA-SHA256', Buffer.from(`${h}.${c}`), known.publicKey, Buffer.from(s, 'base64url'));
    return ok
      ? { status: 200, body: { access_token: 'sa-token', expires_in: 3599, token_type: 'Bearer' } }
      : { status: 400, body: { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' } };
  });
  ws = makeWorkspace({});
  writeFileSync(
    join(ws.dir, 'sa.json'),
    JSON.stringify({
      type: 'service_account',
      private_key_id: 'kid-old',
      private_key: deleted.privateKey.export({ type: 'pkcs8', format: 'pem' }),
      client_email: 'agent@p.iam.gserviceaccount.com',
      token_uri: `${fake.url}/token`,
    }),
  );
  ws.writeConfig({
    channels: { console: { type: 'console' } },
    connections: {
      robot: {
        provider: 'google',
        kind: 'service_account',
        key_file: 'sa.json',
        scopes: ['https://www.googleapis.com/auth/drive.readonly'],
        notify: ['console'],
      },
    },
  });
  warden = await openWarden({ configPath: ws.configPath });
  const consoleChannel = createConsoleChannel('console', {
    clock: partsOf(warden).deps.clock,
    logger: partsOf(warden).deps.logger,
    writeStderr: (t) => said.push(t),
  });
  orch = createOrchestrator(partsOf(warden), { channels: new Map([['console', consoleChannel]]) });
  await orch.start();
});

afterAll(async () => {
  await orch?.stop();
  await warden?.close();
  await fake?.stop();
  ws?.cleanup();
});

describe('a rejected service-account key', () => {
  it('names the key file and where to rotate it, tells the human, opens no flow', async () => {
    const err = await warden.accessToken('robot').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ReauthRequiredError);
    const cause = (err as ReauthRequiredError).diagnosis;
    expect(cause.id).toBe('service_account_key_rejected');
    expect(cause.summary).toMatch(/connections\.robot\.key_file \(invalid_grant\)/);
    expect(cause.fix).toMatch(/Service Accounts → the account → Keys → Add key/);
    await orch.stop(); // drains the notice
    expect(said.join('')).toMatch(/robot: service-account key rejected/);
    expect(said.join('')).toMatch(/connections\.robot\.key_file/);
    expect(await partsOf(warden).store.listFlows({ connection: 'robot' })).toEqual([]);
    expect(orch.needsHuman('robot', await partsOf(warden).store.getConnection('robot'), Date.now())).toBeNull();
  });
});
