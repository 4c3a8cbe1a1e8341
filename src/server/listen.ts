/**
 * Binds the HTTP app (`server.listen`, default 127.0.0.1:7465) with @hono/node-server. A bind
 * beyond loopback needs TLS (`tls_cert`/`tls_key`) or an explicit `allow_insecure_public: true`:
 * the API carries tokens and the callback carries authorization codes.
 */
import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isAbsolute, resolve } from 'node:path';
import { serve } from '@hono/node-server';
import type { Hono } from 'hono';
import type { ServerConfig } from '../config/schema.js';
import { ConfigError } from '../core/errors.js';

export interface ListeningServer {
  /** `http://127.0.0.1:7465` (the actual port when 0 was asked). */
  url: string;
  port: number;
  host: string;
  /** Stop accepting, let in-flight requests finish (up to `graceMs`), then close. */
  close(graceMs?: number): Promise<void>;
}

/** Split `host:port` / `[::1]:port`. */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^\[([0-9a-fA-F:]+)\]:(\d+)$/.exec(listen) ?? /^([^:]+):(\d+)$/.exec(listen);
  if (!m) throw new ConfigError('expected host:port, e.g. 127.0.0.1:7465', { path: 'server.listen' });
  return { host: m[1] as string, port: Number(m[2]) };
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** A bind failure the operator can act on (port taken, privileged port, address not on this host). */
function bindError(e: NodeJS.ErrnoException, where: string): Error {
  switch (e.code) {
    case 'EADDRINUSE':
      return new ConfigError(
        `${where} is already in use — is another tokenwarden running? Stop it, or set server.listen (or --listen) to a free port`,
        { cause: e },
      );
    case 'EACCES':
      return new ConfigError(
        `not allowed to listen on ${where} (ports below 1024 need privileges); set server.listen`,
        {
          cause: e,
        },
      );
    case 'EADDRNOTAVAIL':
      return new ConfigError(`${where}: that address is not on this host; set server.listen`, { cause: e });
    default:
      return e;
  }
}

export async function listen(app: Hono, cfg: ServerConfig, opts: { baseDir?: string } = {}): Promise<ListeningServer> {
  const { host, port } = parseListen(cfg.listen);
  const tls = Boolean(cfg.tls_cert && cfg.tls_key);
  if ((cfg.tls_cert === undefined) !== (cfg.tls_key === undefined))
    throw new ConfigError('set both tls_cert and tls_key (or neither)', {
      path: cfg.tls_cert ? 'server.tls_key' : 'server.tls_cert',
    });
  if (!isLoopback(host) && !tls && !cfg.allow_insecure_public)
    throw new ConfigError(
      `refusing to serve plain HTTP on ${host}: the API carries tokens and the callback carries authorization codes. Bind 127.0.0.1, set tls_cert/tls_key, or set allow_insecure_public: true if a TLS proxy sits in front`,
      { path: 'server.listen' },
    );
  const file = (p: string): Buffer => readFileSync(isAbsolute(p) ? p : resolve(opts.baseDir ?? process.cwd(), p));
  const server = await new Promise<ReturnType<typeof serve>>((res, rej) => {
    const s = serve(
      {
        fetch: app.fetch,
        hostname: host,
        port,
        ...(tls
          ? {
              createServer: createHttpsServer,
              serverOptions: { cert: file(cfg.tls_cert as string), key: file(cfg.tls_key as string) },
            }
          : {}),
      },
      () => res(s),
    );
    s.once('error', (e: NodeJS.ErrnoException) => rej(bindError(e, cfg.listen)));
  });
  const addr = server.address() as AddressInfo;
  const shown = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `${tls ? 'https' : 'http'}://${shown}:${addr.port}`,
    port: addr.port,
    host: addr.address,
    close: (graceMs = 5_000) =>
      new Promise<void>((res) => {
        const s = server as Server;
        const timer = setTimeout(() => s.closeAllConnections?.(), graceMs);
        s.close(() => {
          clearTimeout(timer);
          res();
        });
        s.closeIdleConnections?.();
      }),
  };
}
