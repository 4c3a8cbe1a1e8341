/** `tokenwarden token <conn>`: prints only the access token on stdout; facts on stderr; exit 3 when a human must act. */
import { readFileSync } from 'node:fs';
import { findConfigPath } from '../config/load.js';
import { loadKey } from '../store/key.js';
import { openWarden } from '../warden.js';
import { recordValidatedConfig } from './fast-token.js';
import { wardenOptions, type Io } from './output.js';

export async function runToken(o: { config?: string; conn: string }, io: Io): Promise<number> {
  const env = process.env;
  const path = findConfigPath({ flag: o.config, env, cwd: process.cwd() });
  const text = readFileSync(path, 'utf8');
  const warden = await openWarden(wardenOptions({ config: path }, io));
  try {
    io.out((await warden.accessToken(o.conn)) + '\n');
    // The config was validated and a stored token served: let the next call take the fast path.
    if (warden.connections.get(o.conn)?.config.kind !== 'static') {
      const key = loadKey(warden.config.key, { baseDir: warden.deps.baseDir, env });
      recordValidatedConfig({ path, text, storeSpec: warden.config.store, key, connection: o.conn }, env);
    }
    return 0;
  } finally {
    await warden.close();
  }
}
