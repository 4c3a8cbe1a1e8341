/**
 * `tokenwarden serve`: starts the daemon (src/daemon.ts builds it), says where everything is,
 * and stops it gracefully on SIGTERM/SIGINT.
 */
import { applyDaemonHeapPolicy } from '../core/heap-policy.js';
import { jsonLogger } from '../core/logger.js';
import { loadApiKey, startDaemon } from '../daemon.js';
import type { Io } from './output.js';

export async function runServe(o: { config?: string; listen?: string }, io: Io): Promise<number> {
  // A long-running process: keep resident memory near the live heap (src/core/heap-policy.ts).
  applyDaemonHeapPolicy();
  const daemon = await startDaemon({
    ...(o.config ? { configPath: o.config } : {}),
    ...(o.listen ? { listen: o.listen } : {}),
    logger: jsonLogger(
      (process.env['TOKENWARDEN_LOG_LEVEL'] as 'debug' | 'info' | 'warn' | 'error' | undefined) ?? 'info',
    ),
  });
  const listeners = [...daemon.channels.values()].filter((c) => c.twoWay).map((c) => c.name);
  io.out(
    `tokenwarden serving on ${daemon.server.url} (callback ${new URL('/oauth/callback', daemon.baseUrl).toString()}${listeners.length ? `; listening on ${listeners.join(', ')}` : ''})\n`,
  );
  io.out(`Dashboard sign-in (single use, valid 5 min): ${daemon.loginLink().toString()}\n`);
  for (const p of daemon.proxies.list) io.out(`Mail proxy ${p.name} (${p.protocol}) on ${p.host}:${p.port}\n`);
  if (loadApiKey(daemon.warden) === null)
    io.out(
      'HTTP API (/api/v1) disabled: no API key — set server.api_key or server.api_key_file, or run `tokenwarden init` to write .tokenwarden/api-key (the dashboard and OAuth callback still work)\n',
    );
  await new Promise<void>((resolveStop) => {
    const stop = (): void => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      resolveStop();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  io.err('tokenwarden: shutting down (finishing in-flight work)\n');
  await daemon.close();
  io.err('tokenwarden: stopped\n');
  return 0;
}
