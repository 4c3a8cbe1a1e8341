/**
 * `tokenwarden demo [--once] [--dir <dir>]`: start the sandbox, print where everything is
 * (with a one-time dashboard sign-in link), narrate the tour, then either stop (`--once`, exit
 * 0 only if every step passed) or keep the sandbox up until Ctrl-C.
 */
import { basename, delimiter, dirname } from 'node:path';
import { jsonLogger } from '../core/logger.js';
import type { Io } from './output.js';
import { startSandbox, DEMO_CONNECTION, type Sandbox } from '../demo/sandbox.js';
import { renderSummary, runTour } from '../demo/tour.js';

export interface DemoOptions {
  once?: boolean;
  dir?: string;
  /** Daemon logs (JSON lines) on stderr. */
  verbose?: boolean;
  /** Resolves when the interactive sandbox should stop (default: SIGINT/SIGTERM). */
  untilStopped?: () => Promise<void>;
}

export async function runDemo(o: DemoOptions, io: Io): Promise<number> {
  io.out(
    'tokenwarden demo: a local OAuth provider, a local SMTP server and the daemon, on 127.0.0.1 (no account needed)\n',
  );
  const sb = await startSandbox({
    ...(o.dir ? { dir: o.dir } : {}),
    ...(o.verbose ? { logger: jsonLogger('info') } : {}),
  });
  let ok = false;
  try {
    io.out(await describeSandbox(sb));
    const result = await runTour(sb, io.out);
    ok = result.ok;
    io.out(renderSummary(result, sb));
    if (!o.once) {
      // Listen for Ctrl-C before saying so.
      const stopped = (o.untilStopped ?? waitForSignal)();
      // `tokenwarden` when this runs from a bin on the PATH (an installed package), else npx in a checkout.
      const bin = process.argv[1] ?? '';
      const onPath = (process.env['PATH'] ?? '').split(delimiter).includes(dirname(bin));
      const cli = basename(bin) === 'tokenwarden' && onPath ? 'tokenwarden' : 'npx tokenwarden';
      io.out(
        [
          '',
          'The sandbox stays up; the scheduler keeps refreshing. Try, in another terminal:',
          `  ${cli} --config ${sb.configPath} status`,
          `  ${cli} --config ${sb.configPath} token ${DEMO_CONNECTION}`,
          `  ${cli} --config ${sb.configPath} mcp      # the MCP server an agent would run`,
          'Press Ctrl-C to stop.',
          '',
        ].join('\n'),
      );
      await stopped;
    }
  } finally {
    io.err('tokenwarden demo: stopping the sandbox\n');
    await sb.stop();
  }
  return ok ? 0 : 1;
}

async function describeSandbox(sb: Sandbox): Promise<string> {
  const base = sb.daemon.baseUrl;
  let dashboard = `${base} (sign-in link unavailable)`;
  try {
    const res = await fetch(new URL('/api/v1/dashboard/login-link', base), {
      method: 'POST',
      headers: { authorization: `Bearer ${sb.apiKey}` },
    });
    if (res.ok) dashboard = `${((await res.json()) as { url: string }).url}  (one-time sign-in link, valid 5 min)`;
  } catch {
    // The dashboard is optional for the tour.
  }
  return [
    '',
    `  provider   ${sb.provider.issuer}  (oidc-provider: short-lived access tokens, rotating refresh tokens)`,
    `  smtp       ${sb.smtp.host}:${sb.smtp.port}  (accepts XOAUTH2 tokens and an App Password)`,
    `  daemon     ${base}  (API /api/v1, callback /oauth/callback, /metrics)`,
    `  dashboard  ${dashboard}`,
    `  state      ${sb.dir}  (SQLite, secrets sealed with AES-256-GCM; config ${sb.configPath})`,
    '',
  ].join('\n');
}

function waitForSignal(): Promise<void> {
  return new Promise((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
