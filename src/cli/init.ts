/** `tokenwarden init`: a commented starter config, a 32-byte key and an API key (mode 0600); never overwrites. */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { writeKeyFile } from '../store/key.js';
import type { Io } from './output.js';

export const STARTER_CONFIG = `# tokenwarden.yaml — see docs/configuration.md for every key.
# \${VAR} expands from the environment; \${VAR:-default} gives a default.
# Every commented example works once uncommented (delete the "# " in front of each of its lines)
# and the \${VARIABLES} it names are set.

store: sqlite:.tokenwarden/state.db       # or postgres://user@host:5432/db (several hosts)
key: file:.tokenwarden/key                # 32-byte AES-256-GCM key (base64); or env:TOKENWARDEN_KEY

server:
  listen: 127.0.0.1:7465                  # loopback only; the redirect_uri below points here
  api_key_file: .tokenwarden/api-key      # Authorization: Bearer <this> for /api/*
  # public_url: https://agent.example.com # how your browser reaches this daemon (callbacks, dashboard)

channels:
  console: { type: console }              # prints re-authorization requests on stderr
  # me: { type: telegram, bot_token: "\${TELEGRAM_BOT_TOKEN}", chat_id: 123456789, allow_from: [123456789] }

connections:
  # gmail:
  #   provider: google
  #   client_id: "\${GOOGLE_CLIENT_ID}"
  #   client_secret: "\${GOOGLE_CLIENT_SECRET}"
  #   scopes: [https://www.googleapis.com/auth/gmail.send, https://www.googleapis.com/auth/gmail.readonly]
  #   redirect_uri: http://127.0.0.1:7465/oauth/callback   # caught by \`tokenwarden connect gmail\` or by serve
  #   app_status: production               # "testing": Google kills refresh tokens 7 days after consent
  #   notify: [console]                    # or [me, console] with the Telegram channel above

mailboxes:
  # agent:                                 # App Password routes: mail keeps flowing while OAuth waits
  #   address: agent@example.com
  #   send: [{ smtp: { host: smtp.gmail.com, port: 465, user: agent@example.com, password: "\${GMAIL_APP_PASSWORD}" } }]
  #   read: [{ imap: { host: imap.gmail.com, port: 993, user: agent@example.com, password: "\${GMAIL_APP_PASSWORD}" } }]
  #   # with the gmail connection above, put { gmail: gmail } first in send and read
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
