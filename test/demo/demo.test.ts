/**
 * `tokenwarden demo` end to end, as a newcomer runs it: the built CLI starts its own provider,
 * SMTP server and daemon, narrates the tour and exits 0 only when every step proved itself.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI } from '../helpers/workspace.js';

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function demo(args: string[], onStdout?: (all: string, child: ReturnType<typeof spawn>) => void): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'demo', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      onStdout?.(stdout, child);
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

const STEPS = [
  'Connect: the human authorizes the agent',
  'Proactive refreshes with rotation',
  'Mail through the OAuth route',
  'The provider revokes the grant; tokenwarden diagnoses it',
  'Re-authorization requested',
  'Mail fails over to the App Password route',
  "The human's paste and the instant exchange",
  'Mail back on the OAuth route',
];

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('tokenwarden demo', () => {
  it('--once narrates the whole story, proves every step and exits 0', async () => {
    const r = await demo(['--once']);
    expect(r.stdout).toContain('DEMO OK');
    expect(r.code).toBe(0);
    for (const s of STEPS) expect(r.stdout).toContain(`✔ ${STEPS.indexOf(s) + 1}. ${s}`);
    expect(r.stdout).toMatch(/8\/8 steps passed/);
    // The story's facts, as narrated: rotation, the diagnosis, the typed answer, the routes, the measured exchange.
    expect(r.stdout).toMatch(/refresh token rotated: yes/);
    expect(r.stdout).toMatch(/invalid_grant diagnosed as "revoked"/);
    expect(r.stdout).toMatch(/TW_REAUTH_REQUIRED/);
    expect(r.stdout).toMatch(/exchanged \d+(\.\d)? ms after the paste/);
    expect(r.stdout).toMatch(/mail received by the local SMTP server: 2 via OAuth \(XOAUTH2\), 1 via App Password/);
    expect(r.stdout).toMatch(/dashboard\s+http:\/\/127\.0\.0\.1:\d+\/login\?token=/);
    // The pasted redirect URLs are shown with their single-use code elided.
    expect(r.stdout).not.toMatch(/[?&]code=[^…&\s]/);
    // The simulated human was asked on the console channel (stderr), twice: connect and after the revocation.
    expect(r.stderr.match(/\[tokenwarden\] reauth request · sandbox/g)).toHaveLength(2);
    expect(r.stderr).not.toMatch(/oidc-provider WARNING/);
  }, 60_000);

  it('without --once the sandbox stays up until Ctrl-C, then stops cleanly (state kept with --dir)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tw-demo-keep-'));
    dirs.push(dir);
    let signalled = false;
    const r = await demo(['--dir', dir], (all, child) => {
      if (!signalled && all.includes('Press Ctrl-C to stop.')) {
        signalled = true;
        child.kill('SIGINT');
      }
    });
    expect(signalled).toBe(true);
    expect(r.stdout).toContain('DEMO OK');
    expect(r.stdout).toContain(`--config ${join(dir, 'tokenwarden.yaml')} status`);
    expect(r.stderr).toContain('stopping the sandbox');
    expect(r.code).toBe(0);
    expect(existsSync(join(dir, 'state.db'))).toBe(true);
  }, 60_000);
});
