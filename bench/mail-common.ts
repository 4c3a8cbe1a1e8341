/**
 * Shared by bench/mail.ts and bench/mail-soak-worker.ts: a real SQLite store opened through
 * `openStore` with a generated key, and the mail service wiring. Events go to the store as the
 * warden's own event sink writes them (`mail_queued`, `mail_sent`, …), so every commit the daemon
 * makes is made here too.
 */
import type { Clock } from '../src/core/clock.js';
import { silentLogger } from '../src/core/logger.js';
import type { TokenSource } from '../src/core/types.js';
import { connectionSchema, mailboxSchema } from '../src/config/schema.js';
import { createMailService, type MailService, type MailServiceOptions } from '../src/mail/index.js';
import { openStore } from '../src/store/open-store.js';
import type { Store } from '../src/store/types.js';

export const ADDRESS = 'agent@example.com';
export const APP_PASSWORD = 'abcd efgh ijkl mnop';

export async function openBenchStore(dir: string, key: Buffer, synchronous?: 'full' | 'normal'): Promise<Store> {
  return openStore('sqlite:state.db', {
    key,
    keySpec: 'env:TW_BENCH_KEY',
    baseDir: dir,
    ...(synchronous ? { synchronous } : {}),
  });
}

export function smtpRoute(port: number): Record<string, unknown> {
  return { smtp: { host: '127.0.0.1', port, secure: false, user: ADDRESS, password: APP_PASSWORD } };
}

export function buildService(o: {
  store: Store;
  clock: Clock;
  tokens: TokenSource;
  owner: string;
  send: Record<string, unknown>[];
  gmail?: boolean;
  fetch?: typeof fetch;
  options?: MailServiceOptions;
}): MailService {
  const connections = o.gmail
    ? {
        gmail: connectionSchema.parse({
          provider: 'google',
          client_id: 'cid',
          client_secret: 'secret',
          scopes: ['https://www.googleapis.com/auth/gmail.send'],
        }),
      }
    : {};
  return createMailService({
    config: { connections, mailboxes: { agent: mailboxSchema.parse({ address: ADDRESS, send: o.send }) } },
    store: o.store,
    tokens: o.tokens,
    clock: o.clock,
    logger: silentLogger,
    events: { emit: async (e) => void (await o.store.appendEvent(e, o.clock.now())) },
    owner: o.owner,
    ...(o.fetch ? { fetch: o.fetch } : {}),
    ...(o.options ? { options: o.options } : {}),
  });
}
