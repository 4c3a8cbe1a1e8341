/**
 * The CLI refuses or warns about unsafe settings before it does any work: plain http to a
 * non-loopback host for a URL that carries a secret, files others can read, and text from
 * outside that would drive the terminal.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { makeWorkspace, type Workspace } from '../helpers/workspace.js';

let ws: Workspace | undefined;
afterEach(() => {
  ws?.cleanup();
  ws = undefined;
});

/** Run `tokenwarden serve`; resolves with its exit, or kills it once it says it is serving. */
function serveOutcome(w: Workspace): Promise<{ code: number | null; stdout: string; stderr: string; served: boolean }> {
  return new Promise((resolve, reject) => {
    const child = w.spawnCli(['serve', '--listen', '127.0.0.1:0']);
    let stdout = '';
    let stderr = '';
    let served = false;
    child.stdout?.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (!served && stdout.includes('tokenwarden serving')) {
        served = true;
        child.kill('SIGTERM');
      }
    });
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, served }));
    child.stdin?.end();
  });
}

describe('plain http to a non-loopback host', () => {
  it('`tokenwarden serve` exits 2 naming the key before it serves', async () => {
    ws = makeWorkspace({
      channels: {
        me: { type: 'telegram', bot_token: '123:abc', chat_id: 1, allow_from: [1], api_root: 'http://bot.example.com' },
      },
    });
    const r = await serveOutcome(ws);
    expect(r.served).toBe(false);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      'channels.me.api_root: http:// is allowed only to a loopback host (127.0.0.1, ::1, localhost); use https://',
    );
    expect(r.stderr).not.toContain('123:abc');
  });

  it('a mailbox gmail api_base over plain http is refused the same way', async () => {
    ws = makeWorkspace({
      connections: { g: { provider: 'google', client_id: 'cid', client_secret: 'cs' } },
      mailboxes: {
        m: { address: 'a@example.com', send: [{ gmail: { connection: 'g', api_base: 'http://gmail.example.com' } }] },
      },
    });
    const r = await serveOutcome(ws);
    expect(r.served).toBe(false);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('mailboxes.m.send[0].gmail.api_base: http:// is allowed only to a loopback host');
  });
});
