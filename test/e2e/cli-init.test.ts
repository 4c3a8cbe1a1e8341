/**
 * A first run that works as written: the file `tokenwarden init` writes is a valid config as
 * it stands (`status` exits 0), uses the README's port, and each commented example becomes a
 * valid config when uncommented (alone, and all together).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../src/config/load.js';
import { CLI, type CliResult } from '../helpers/workspace.js';

const ENV = {
  TELEGRAM_BOT_TOKEN: '123456:AAtesttesttesttesttesttesttesttest12',
  GOOGLE_CLIENT_ID: 'id.apps.googleusercontent.com',
  GOOGLE_CLIENT_SECRET: 'GOCSPX-test',
  GMAIL_APP_PASSWORD: 'abcdabcdabcdabcd',
};

let dir: string;

function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: dir,
      env: { ...process.env, TOKENWARDEN_CONFIG: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', rej);
    child.on('close', (code) => res({ code, stdout, stderr }));
  });
}

/** Commented example blocks: runs of indented `# ` lines at one indent (column-0 comments explain, they are not examples). */
function exampleBlocks(text: string): Array<{ from: number; to: number; indent: string }> {
  const lines = text.split('\n');
  const blocks: Array<{ from: number; to: number; indent: string }> = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^( +)# /.exec(lines[i] as string);
    if (!m) continue;
    const indent = m[1] as string;
    let j = i;
    while (j + 1 < lines.length && (lines[j + 1] as string).startsWith(`${indent}# `)) j++;
    blocks.push({ from: i, to: j, indent });
    i = j;
  }
  return blocks;
}

function uncomment(text: string, blocks: Array<{ from: number; to: number; indent: string }>): string {
  const lines = text.split('\n');
  for (const b of blocks)
    for (let i = b.from; i <= b.to; i++) lines[i] = (lines[i] as string).replace(`${b.indent}# `, b.indent);
  return lines.join('\n');
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tw-init-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('tokenwarden init', () => {
  let written: string;

  it('writes a config that works as written: status exits 0', async () => {
    const init = await cli(['init']);
    expect(init.code).toBe(0);
    expect(init.stdout).toMatch(/wrote .*tokenwarden\.yaml/);
    written = readFileSync(join(dir, 'tokenwarden.yaml'), 'utf8');
    const status = await cli(['status', '--json']);
    expect(status.stderr).toBe('');
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ connections: [], daemon: { running: false } });
  });

  it("listens where the README's redirect URI points", () => {
    const readme = readFileSync(resolve(import.meta.dirname, '../../README.md'), 'utf8');
    const port = /listen: 127\.0\.0\.1:(\d+)/.exec(written)?.[1];
    expect(port).toBeTruthy();
    expect(readme).toContain(`redirect_uri: http://127.0.0.1:${port}/oauth/callback`);
    expect(written).toContain(`redirect_uri: http://127.0.0.1:${port}/oauth/callback`);
  });

  it('every commented example is a valid config once uncommented, alone and all together', async () => {
    const blocks = exampleBlocks(written);
    // public_url, the Telegram channel, the Gmail connection, the mailbox.
    expect(blocks.length).toBe(4);
    const file = join(dir, 'uncommented.yaml');
    for (const b of blocks) {
      writeFileSync(file, uncomment(written, [b]));
      const what = written.split('\n')[b.from];
      expect(() => loadConfigFile(file, ENV), what).not.toThrow();
    }
    writeFileSync(file, uncomment(written, blocks));
    const all = loadConfigFile(file, ENV).config;
    expect(Object.keys(all.connections)).toEqual(['gmail']);
    expect(Object.keys(all.channels)).toEqual(['console', 'me']);
    expect(Object.keys(all.mailboxes)).toEqual(['agent']);
    const status = await cli(['--config', file, 'status'], ENV);
    expect(status.stderr).toBe('');
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/gmail\s+google\s+unauthorized/);
  });
});
