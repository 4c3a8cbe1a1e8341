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

/** `serve` as a child; resolves once its stdout matches `ready`. `stop()` resolves with all it printed. */
async function serveUntil(ws: Workspace, ready: RegExp): Promise<{ url: string; stop(): Promise<string> }> {
  const child = ws.spawnCli(['serve']);
  let out = '';
  let err = '';
  const closed = new Promise<void>((r) => child.once('close', () => r()));
  cleanups.push(async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await closed;
  });
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  await new Promise<void>((resolveReady, rejectReady) => {
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (ready.test(out)) resolveReady();
    });
    void closed.then(() => rejectReady(new Error(`serve exited before ${String(ready)}: ${out} ${err}`)));
  });
  const url = /serving on (\S+)/.exec(out)?.[1] ?? '';
  return {
    url,
    async stop() {
      child.kill('SIGTERM');
      await closed;
      return out;
    },
  };
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
    const off = await serveUntil(ws, /HTTP API \(\/api\/v1\) disabled/);
    // The API answers as the notice says.
    const res = await fetch(`${off.url}/api/v1/connections`, { headers: { authorization: 'Bearer x' } });
    expect(res.status).toBe(401);
    const offOut = await off.stop();
    expect(offOut).toMatch(
      /HTTP API \(\/api\/v1\) disabled: no API key — set server\.api_key or server\.api_key_file, or run `tokenwarden init`/,
    );

    writeFileSync(join(ws.dir, '.tokenwarden', 'api-key'), 'k'.repeat(40));
    const on = await serveUntil(ws, /Dashboard sign-in/);
    const ok = await fetch(`${on.url}/api/v1/connections`, { headers: { authorization: `Bearer ${'k'.repeat(40)}` } });
    expect(ok.status).toBe(200);
    // Everything serve printed, up to its exit.
    const onOut = await on.stop();
    expect(onOut).toMatch(/Dashboard sign-in/);
    expect(onOut).not.toMatch(/disabled/);
  });
});
