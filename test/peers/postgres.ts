/**
 * A throwaway PostgreSQL for tests (/work/shared/TEST-PEERS.md, PostgreSQL section): Debian's
 * PostgreSQL 15 binaries, a cluster in a temp folder owned by `postgres` (initdb refuses root),
 * `-A trust`, an ephemeral 127.0.0.1 port, its socket in the same folder, `fsync=off`.
 *
 * With `TOKENWARDEN_TEST_PG_URL` set (e.g. `postgres://postgres@127.0.0.1:5432/postgres`) an
 * existing server is used instead; `restart()` then terminates every backend of the databases
 * this peer created, which is what a client sees of a restart.
 *
 * Each caller gets its own database (`createDatabase()`), so test files stay independent.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);
const BIN = process.env['TOKENWARDEN_TEST_PG_BIN'] ?? '/usr/lib/postgresql/15/bin';

export interface PostgresPeer {
  /** URL of the maintenance database (`postgres`). */
  adminUrl: string;
  /** True when this peer runs its own cluster (false: `TOKENWARDEN_TEST_PG_URL`). */
  owned: boolean;
  host: string;
  port: number;
  /** Create a fresh database and return its URL. */
  createDatabase(prefix?: string): Promise<string>;
  /** Stop the server (fast shutdown) and start it again on the same port and data. */
  restart(): Promise<void>;
  /** Stop the server only (for "unreachable" tests); `start()` brings it back. */
  stopServer(): Promise<void>;
  startServer(): Promise<void>;
  /** Drop the databases this peer created; stop and remove an owned cluster. */
  stop(): Promise<void>;
}

/** `runuser`/`su` command line running `cmd` as the postgres user (when we are root). */
async function asPostgres(cmd: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  if (process.getuid?.() !== 0) return run(cmd, args);
  return run('runuser', ['-u', 'postgres', '--', cmd, ...args]);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export async function startPostgres(): Promise<PostgresPeer> {
  const external = process.env['TOKENWARDEN_TEST_PG_URL'];
  const created: string[] = [];
  let dir: string | null = null;
  let dataDir = '';
  let adminUrl: string;
  let port: number;
  let host: string;

  const pgCtl = async (...args: string[]): Promise<void> => {
    await asPostgres(join(BIN, 'pg_ctl'), ['-D', dataDir, ...args]);
  };
  const startServer = async (): Promise<void> => {
    if (!dir) throw new Error('startServer: not an owned cluster');
    await pgCtl(
      '-w',
      '-l',
      join(dir, 'server.log'),
      '-o',
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`,
      'start',
    );
  };
  const stopServer = async (): Promise<void> => {
    if (!dir) throw new Error('stopServer: not an owned cluster');
    await pgCtl('-w', '-m', 'fast', 'stop');
  };

  if (external) {
    const u = new URL(external);
    host = u.hostname;
    port = Number(u.port || 5432);
    adminUrl = external;
  } else {
    dir = mkdtempSync(join(tmpdir(), 'tw-pg-'));
    dataDir = join(dir, 'data');
    if (process.getuid?.() === 0) {
      const { uid, gid } = await postgresIds();
      chownSync(dir, uid, gid);
    }
    chmodSync(dir, 0o700);
    await asPostgres(join(BIN, 'initdb'), ['-D', dataDir, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
    host = '127.0.0.1';
    port = 0;
    // An ephemeral port can be taken between probing and binding: try a few.
    for (let attempt = 0; ; attempt++) {
      port = await freePort();
      try {
        await startServer();
        break;
      } catch (e) {
        if (attempt >= 4) throw e;
      }
    }
    adminUrl = `postgres://postgres@127.0.0.1:${port}/postgres`;
  }

  const admin = async <T>(fn: (c: pg.Client) => Promise<T>): Promise<T> => {
    const c = new pg.Client({ connectionString: adminUrl });
    c.on('error', () => undefined);
    await c.connect();
    try {
      return await fn(c);
    } finally {
      await c.end().catch(() => undefined);
    }
  };

  const withDb = (name: string): string => {
    const u = new URL(adminUrl);
    u.pathname = `/${name}`;
    return u.toString();
  };

  return {
    adminUrl,
    owned: dir !== null,
    host,
    port,
    async createDatabase(prefix = 'tw') {
      const name = `${prefix}_${randomBytes(5).toString('hex')}`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
      await admin((c) => c.query(`CREATE DATABASE ${name}`));
      created.push(name);
      return withDb(name);
    },
    async restart() {
      if (dir) {
        await stopServer();
        await startServer();
        return;
      }
      await admin((c) =>
        c.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ANY($1) AND pid <> pg_backend_pid()`,
          [created],
        ),
      );
    },
    stopServer,
    startServer,
    async stop() {
      if (dir) {
        await stopServer().catch(() => undefined);
        rmSync(dir, { recursive: true, force: true });
        return;
      }
      await admin(async (c) => {
        for (const name of created) await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      }).catch(() => undefined);
    },
  };
}

async function postgresIds(): Promise<{ uid: number; gid: number }> {
  const [{ stdout: uid }, { stdout: gid }] = await Promise.all([
    run('id', ['-u', 'postgres']),
    run('id', ['-g', 'postgres']),
  ]);
  return { uid: Number(uid.trim()), gid: Number(gid.trim()) };
}
