/** `tokenwarden token <conn>`: prints only the access token on stdout; facts on stderr; exit 3 when a human must act. */
import { openWarden } from '../warden.js';
import { wardenOptions, type Io } from './output.js';

export async function runToken(o: { config?: string; conn: string }, io: Io): Promise<number> {
  const warden = await openWarden(wardenOptions(o, io));
  try {
    io.out((await warden.accessToken(o.conn)) + '\n');
    return 0;
  } finally {
    await warden.close();
  }
}
