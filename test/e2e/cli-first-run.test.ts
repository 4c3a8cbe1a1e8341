/**
 * What a first run meets: `--version`, `serve` on a port another process holds (a clear message
 * and exit 2), and `serve` saying when its HTTP API is off because no API key is configured.
 */
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { makeWorkspace, type Workspace } from '../helpers/workspace.js';
import { spawnServe } from '../daemon/helpers.js';

const version = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function workspace(config: Record<string, unknown> = {}): Workspace {
  const ws = makeWorkspace(config);
  cleanups.push(() => ws.cleanup());
  return ws;
}

describe('first run', () => {
  it('--version and -V print the package version', async () => {
    const ws = workspace();
    for (const flag of ['--version', '-V']) {
      const r = await ws.cli([flag]);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(`${version}\n`);
    }
  });

  it('serve on a port already in use says so and exits 2', async () => {
    const holder: Server = createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => holder.close(r)));
    const port = (holder.address() as { port: number }).port;
    const ws = workspace({ server: { listen: `127.0.0.1:${port}` } });
    const r = await ws.cli(['serve']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`127.0.0.1:${port} is already in use — is another tokenwarden running?`);
    expect(r.stderr).toContain('server.listen');
    expect(r.stderr).not.toMatch(/EADDRINUSE|at .*\.js:\d+/);
  });

  it('serve says the HTTP API is disabled when no API key is configured, and not otherwise', async () => {
    const ws = workspace({ server: { listen: '127.0.0.1:0' } });
    const off = await spawnServe(ws);
    cleanups.push(() => off.stop());
    // The notice follows the sign-in line; the API answers as the notice says.
    const res = await fetch(`${off.url}/api/v1/connections`, { headers: { authorization: 'Bearer x' } });
    expect(res.status).toBe(401);
    await off.stop();
    expect(off.stdout()).toMatch(/HTTP API \(\/api\/v1\) disabled: no API key — set server\.api_key/);

    writeFileSync(join(ws.dir, '.tokenwarden', 'api-key'), 'k'.repeat(40));
    const on = await spawnServe(ws);
    cleanups.push(() => on.stop());
    const ok = await fetch(`${on.url}/api/v1/connections`, { headers: { authorization: `Bearer ${'k'.repeat(40)}` } });
    expect(ok.status).toBe(200);
    await on.stop();
    expect(on.stdout()).toMatch(/Dashboard sign-in/);
    expect(on.stdout()).not.toMatch(/disabled/);
  });
});
