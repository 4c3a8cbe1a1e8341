/**
 * `connect` on a terminal draws the link's QR code under it (for a phone); piped output never
 * carries one. The terminal is a real pseudo-terminal (util-linux `script`).
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, makeWorkspace, type Workspace } from '../helpers/workspace.js';
import { sandboxConnection } from '../helpers/sandbox.js';
import { startOidcProvider, type OidcPeer } from '../peers/oidc-provider.js';

const REDIRECT = 'http://127.0.0.1:1/oauth/callback';
let peer: OidcPeer;
let ws: Workspace;

beforeAll(async () => {
  peer = await startOidcProvider({ redirectUris: [REDIRECT] });
  ws = makeWorkspace({ connections: { sandbox: sandboxConnection(peer, REDIRECT) } });
});
afterAll(async () => {
  ws?.cleanup();
  await peer?.stop();
});

/** Run the CLI with its standard streams on a pseudo-terminal; everything it wrote, as the terminal got it. */
function onTerminal(args: string[]): Promise<{ code: number | null; output: string }> {
  const command = [process.execPath, CLI, '--config', ws.configPath, ...args].map((a) => `'${a}'`).join(' ');
  return new Promise((res, rej) => {
    const child = spawn('script', ['-qfec', command, '/dev/null'], { cwd: ws.dir, stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', rej);
    child.on('close', (code) => res({ code, output }));
    child.stdin.end();
  });
}

describe('connect on a terminal', () => {
  it('draws the QR code of the link; piped output has none', async () => {
    const tty = await onTerminal(['connect', 'sandbox', '--no-wait']);
    expect(tty.code).toBe(0);
    expect(tty.output).toContain(`Authorize "sandbox": open this link in any browser`);
    // Half-block rows of the code: several lines made only of blocks and spaces, between colour codes.
    const rows = tty.output
      // eslint-disable-next-line no-control-regex
      .replace(/\x1b\[[0-9;]*m/g, '')
      .split(/\r?\n/)
      .filter((l) => /^[ ▀▄█]{21,}$/.test(l) && /█/.test(l));
    expect(rows.length).toBeGreaterThanOrEqual(10);

    const piped = await ws.cli(['connect', 'sandbox', '--no-wait']);
    expect(piped.code).toBe(0);
    expect(piped.stderr).toContain(`Authorize "sandbox": open this link in any browser`);
    expect(piped.stderr + piped.stdout).not.toMatch(/[▀▄█]/);
  });
});
