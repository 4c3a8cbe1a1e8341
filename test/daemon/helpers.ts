/** Shared pieces of the daemon tests: ports, links in bot messages, a `serve` child process. */
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import type { BotMessage } from '../peers/telegram.js';
import { lines, type Workspace } from '../helpers/workspace.js';

export async function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

/** The link a bot message carries once (Telegram HTML: `<a href="url">`, entities escaped). */
export function linkIn(m: BotMessage): string {
  const raw = /<a href="(https?:[^"]+)">/.exec(m.text)?.[1];
  if (!raw) throw new Error(`no link in bot message: ${m.text}`);
  return raw
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/** Bot messages after a watermark: `after(peer.botMessages())` then wait with the predicate. */
export function newerThan(seen: BotMessage[]): (m: BotMessage) => boolean {
  const max = Math.max(0, ...seen.map((m) => m.message_id));
  return (m) => m.message_id > max;
}

export interface ServeChild {
  child: ChildProcess;
  url: string;
  stdout: () => string;
  stderr: () => string;
  /** SIGTERM and wait for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** `tokenwarden serve` as a child process (the built CLI); resolves once it prints its URL. */
export async function spawnServe(ws: Workspace): Promise<ServeChild> {
  const child = ws.spawnCli(['serve']);
  let out = '';
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  const it = lines(child.stdout as NodeJS.ReadableStream);
  const first = await Promise.race([
    it.next(),
    exited.then((code) => {
      throw new Error(`serve exited with ${code}: ${err}`);
    }),
  ]);
  out += `${first.value ?? ''}\n`;
  // Keep reading through the same iterator: lines that arrived in the first chunk are queued there.
  void (async () => {
    for (let n = await it.next(); !n.done; n = await it.next()) out += `${n.value}\n`;
  })();
  const url = /serving on (\S+)/.exec(first.value ?? '')?.[1];
  if (!url) throw new Error(`serve printed no URL: ${first.value ?? ''} ${err}`);
  return {
    child,
    url,
    stdout: () => out,
    stderr: () => err,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null) return child.exitCode;
      child.kill(signal);
      return exited;
    },
  };
}
