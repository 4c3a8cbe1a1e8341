/**
 * `flow: auto` when the device flow is not possible and no redirect URI allows the
 * authorization-code flow: the error says why the device flow failed (GitHub's
 * `device_flow_disabled` → enable Device Flow in the app's settings), and a network failure
 * stays a transient error (exit 4), instead of a misleading complaint about `redirect_uri` alone.
 * GitHub's device endpoint is a local HTTP stand-in answering as GitHub documents.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenwardenError, TransientError } from '../../src/core/errors.js';
import { exitCodeFor } from '../../src/cli/exit-codes.js';
import { openWarden, partsOf } from '../../src/warden.js';
import { startFakeHttp, type FakeHttp } from '../oauth/fake-http.js';
import { freePort } from '../daemon/helpers.js';

let fake: FakeHttp;

beforeAll(async () => {
  fake = await startFakeHttp();
  fake.route('POST', '/login/device/code', () => ({
    status: 400,
    body: {
      error: 'device_flow_disabled',
      error_description: 'Device Flow must be explicitly enabled for this App',
      error_uri: 'https://docs.github.com',
    },
  }));
});
afterAll(async () => fake?.stop());

async function open(deviceUrl: string): Promise<unknown> {
  const warden = await openWarden({
    config: {
      store: 'sqlite::memory:',
      key: 'env:TW_TEST_KEY',
      connections: {
        gh: {
          provider: 'github',
          client_id: 'Iv1.abc',
          client_secret: 'gh-secret',
          auth_url: `${fake.url}/login/oauth/authorize`,
          token_url: `${fake.url}/login/oauth/access_token`,
          device_url: deviceUrl,
          scopes: ['repo'],
        },
      },
    },
    env: { TW_TEST_KEY: Buffer.alloc(32, 7).toString('base64') },
  });
  try {
    return await partsOf(warden)
      .flows.open('gh')
      .then(
        () => null,
        (e: unknown) => e,
      );
  } finally {
    await warden.close();
  }
}

describe('flow auto without a redirect URI', () => {
  it('device_flow_disabled: says to enable Device Flow in the app settings (config error, exit 2)', async () => {
    const err = await open(`${fake.url}/login/device/code`);
    expect(err).toBeInstanceOf(TokenwardenError);
    expect((err as Error).message).toMatch(/device flow is not possible \(GitHub answered: device_flow_disabled\)/);
    expect((err as Error).message).toMatch(/enable Device Flow in the GitHub app's settings/);
    expect((err as Error).message).toMatch(/connections\.gh\.redirect_uri/);
    expect(exitCodeFor(err)).toBe(2);
  });

  it('the provider unreachable: a transient error (exit 4), not a config complaint', async () => {
    const err = await open(`http://127.0.0.1:${await freePort()}/login/device/code`);
    expect(err).toBeInstanceOf(TransientError);
    expect((err as Error).message).not.toMatch(/redirect_uri/);
    expect(exitCodeFor(err)).toBe(4);
  });
});
