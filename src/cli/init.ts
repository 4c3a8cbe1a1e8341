/** `tokenwarden init`: a commented starter config, a 32-byte key and an API key (mode 0600); never overwrites. */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { writeKeyFile } from '../store/key.js';
import type { Io } from './output.js';

export const STARTER_CONFIG = `# tokenwarden.yaml — see docs/configuration.md for every key.
# \${VAR} expands from the environment; \${VAR:-default} gives a default.

store: sqlite:.tokenwarden/state.db       # or postgres://user@host:5432/db (several hosts)
key: file:.tokenwarden/key                # 32-byte AES-256-GCM key (base64); or env:TOKENWARDEN_KEY

server:
  listen: 127.0.0.1:7465                  # loopback only by default
  api_key_file: .tokenwarden/api-key      # Authorization: Bearer <this> for /api/*
  # public_url: https://agent.example.com # how your browser reaches this daemon (callbacks, dashboard)

channels:
  console: { type: console }              # prints re-authorization requests on stderr
  # ops: { type: telegram, bot_token: "\${TELEGRAM_BOT_TOKEN}", chat_id: 123456789, allow_from: [123456789] }

connections: {}                           # uncomment and fill in (drop the {}):
  # gmail:
  #   provider: google
  #   client_id: "\${GOOGLE_CLIENT_ID}"
  #   client_secret: "\${GOOGLE_CLIENT_SECRET}"
  #   scopes: [https://www.googleapis.com/auth/gmail.send, https://www.googleapis.com/auth/gmail.readonly]
  #   redirect_uri: http://127.0.0.1:8765/oauth/callback   # loopback: captured by \`tokenwarden connect gmail\`
  #   app_status: testing                  # Google "Testing" apps: refresh tokens die 7 days after consent
  #   notify: [console]
  #   reauth_lead: 24h

mailboxes: {}
  # agent:
  #   address: agent@example.com
  #   send: [{ gmail: gmail }, { smtp: { host: smtp.gmail.com, port: 465, user: agent@example.com, password: "\${GMAIL_APP_PASSWORD}" } }]
  #   read: [{ gmail: gmail }, { imap: { host: imap.gmail.com, port: 993, user: agent@example.com, password: "\${GMAIL_APP_PASSWORD}" } }]
`;

export async function runInit(dir: string, io: Io): Promise<number> {
  const root = resolve(dir);
  const stateDir = join(root, '.tokenwarden');
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const wrote: string[] = [];
  const kept: string[] = [];
  const configPath = join(root, 'tokenwarden.yaml');
  if (existsSync(configPath)) kept.push(configPath);
  else {
    writeFileSync(configPath, STARTER_CONFIG, { mode: 0o600, flag: 'wx' });
    wrote.push(configPath);
  }
  const keyPath = join(stateDir, 'key');
  if (existsSync(keyPath)) kept.push(keyPath);
  else {
    writeKeyFile(keyPath);
    wrote.push(keyPath);
  }
  const apiKeyPath = join(stateDir, 'api-key');
  if (existsSync(apiKeyPath)) kept.push(apiKeyPath);
  else {
    writeFileSync(apiKeyPath, `tw_${randomBytes(24).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
    wrote.push(apiKeyPath);
  }
  for (const p of wrote) io.out(`wrote ${p}\n`);
  for (const p of kept) io.out(`kept  ${p} (exists; not overwritten)\n`);
  io.out('Next: add a connection to tokenwarden.yaml, then `tokenwarden connect <name>`.\n');
  return 0;
}
