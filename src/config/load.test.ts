import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../core/errors.js';
import { checkEndpointUrl } from '../oauth/endpoint-policy.js';
import { findConfigPath, loadConfigFile, parseConfig } from './load.js';

const fullExample = `
store: sqlite:.tokenwarden/state.db
key: file:.tokenwarden/key
server: { listen: 127.0.0.1:7465, public_url: https://agent.example.com }
channels:
  ops: { type: telegram, bot_token: "\${TELEGRAM_BOT_TOKEN}", chat_id: 123456789, allow_from: [123456789] }
connections:
  gmail:
    provider: google
    client_id: "\${GOOGLE_CLIENT_ID}"
    client_secret: "\${GOOGLE_CLIENT_SECRET}"
    scopes: [https://www.googleapis.com/auth/gmail.send, https://www.googleapis.com/auth/gmail.readonly]
    app_status: testing
    notify: [ops]
    reauth_lead: 24h
  sandbox:
    provider: oidc
    issuer: http://127.0.0.1:9000
    client_id: app
    client_secret: app-secret
    redirect_uri: http://127.0.0.1:7465/oauth/callback
    scopes: [openid, offline_access]
mailboxes:
  agent:
    address: agent@example.com
    send: [{ gmail: gmail }, { smtp: { host: smtp.gmail.com, port: 465, user: agent@example.com, password: "\${GMAIL_APP_PASSWORD}" } }]
    read: [{ gmail: gmail }, { imap: { host: imap.gmail.com, port: 993, user: agent@example.com, password: "\${GMAIL_APP_PASSWORD}" } }]
`;

const env = {
  TELEGRAM_BOT_TOKEN: '123:abc',
  GOOGLE_CLIENT_ID: 'cid',
  GOOGLE_CLIENT_SECRET: 'csecret',
  GMAIL_APP_PASSWORD: 'apppw',
};

function write(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'tw-config-'));
  const p = join(dir, 'tokenwarden.yaml');
  writeFileSync(p, text);
  return p;
}

describe('config loading', () => {
  it('accepts a full example (connections, channels, mailboxes) and expands ${VAR}', () => {
    const { config, baseDir } = loadConfigFile(write(fullExample), env);
    expect(config.connections['gmail']?.client_id).toBe('cid');
    expect(config.connections['gmail']?.reauth_lead).toBe(86_400_000);
    expect(config.channels['ops']).toMatchObject({ type: 'telegram', bot_token: '123:abc' });
    expect(config.mailboxes['agent']?.send).toHaveLength(2);
    expect(baseDir).toMatch(/tw-config-/);
  });

  it.each([
    ['unknown top-level key', { storee: 'x' }, /\(top level\): unknown key "storee"/],
    [
      'unknown nested key',
      { connections: { a: { provider: 'google', client_id: 'x', scope: [] } } },
      /connections\.a: unknown key "scope"/,
    ],
    [
      'bad provider',
      { connections: { a: { provider: 'yahoo', client_id: 'x' } } },
      /connections\.a\.provider: expected one of/,
    ],
    [
      'wrong type',
      { connections: { a: { provider: 'google', client_id: 'x', scopes: 'gmail' } } },
      /connections\.a\.scopes: expected array, got string/,
    ],
    [
      'oidc without issuer',
      { connections: { a: { provider: 'oidc', client_id: 'x' } } },
      /connections\.a\.issuer: required for provider oidc/,
    ],
    [
      'bad duration',
      { connections: { a: { provider: 'google', client_id: 'x', reauth_lead: 'soon' } } },
      /reauth_lead: expected a duration/,
    ],
    ['bad store', { store: 'mysql://x' }, /store: expected sqlite:PATH or postgres/],
    ['bad key spec', { key: 'hunter2' }, /key: expected env:VAR or file:PATH/],
    ['unknown channel type', { channels: { c: { type: 'pigeon' } } }, /channels\.c/],
    [
      'notify names a missing channel',
      { connections: { a: { provider: 'google', client_id: 'x', notify: ['ops'] } } },
      /connections\.a\.notify\[0\]: unknown channel "ops"/,
    ],
    [
      'route names a missing connection',
      { mailboxes: { m: { address: 'a@b.c', send: [{ gmail: 'nope' }] } } },
      /mailboxes\.m\.send\[0\]: unknown connection "nope"/,
    ],
    [
      'smtp route without credentials',
      { mailboxes: { m: { address: 'a@b.c', send: [{ smtp: { host: 'h', port: 25, user: 'u' } }] } } },
      /needs either password/,
    ],
    ['top level is a list', [1, 2], /mapping/],
  ])('rejects %s with a message naming the key', (_label, raw, message) => {
    expect(() => parseConfig(raw, {})).toThrow(ConfigError);
    expect(() => parseConfig(raw, {})).toThrow(message);
  });

  describe('every outbound URL that carries a secret: https, or http only to a loopback host', () => {
    const refused = 'http:// is allowed only to a loopback host (127.0.0.1, ::1, localhost); use https://';
    const tg = { type: 'telegram', bot_token: 't', chat_id: 1, allow_from: [1] };
    const gc = { provider: 'google', client_id: 'x' };
    const box = (route: Record<string, unknown>) => ({
      connections: { g: gc },
      mailboxes: { m: { address: 'a@b.c', send: [route] } },
    });
    it.each([
      [
        'telegram api_root',
        { channels: { me: { ...tg, api_root: 'http://bot.example.com' } } },
        'channels.me.api_root',
      ],
      ['slack url', { channels: { s: { type: 'slack', url: 'http://hooks.example.com/T/B/x' } } }, 'channels.s.url'],
      [
        'ntfy url',
        { channels: { n: { type: 'ntfy', url: 'http://ntfy.example.com/t', token: 'tk' } } },
        'channels.n.url',
      ],
      ['webhook url', { channels: { w: { type: 'webhook', url: 'http://10.1.2.3:8080/hook' } } }, 'channels.w.url'],
      [
        'gmail api_base',
        box({ gmail: { connection: 'g', api_base: 'http://gmail.example.com' } }),
        'mailboxes.m.send[0].gmail.api_base',
      ],
      [
        'graph api_base',
        box({ graph: { connection: 'g', api_base: 'http://192.168.1.9/v1.0' } }),
        'mailboxes.m.send[0].graph.api_base',
      ],
      [
        'connection token_url',
        { connections: { c: { ...gc, token_url: 'http://oauth.example.com/token' } } },
        'connections.c.token_url',
      ],
      [
        'connection issuer',
        { connections: { c: { provider: 'oidc', client_id: 'x', issuer: 'http://id.example.com' } } },
        'connections.c.issuer',
      ],
      [
        'connection api_base',
        { connections: { c: { ...gc, api_base: 'http://api.example.com' } } },
        'connections.c.api_base',
      ],
      [
        'a 128.x address is not loopback',
        { channels: { me: { ...tg, api_root: 'http://128.0.0.1:8081' } } },
        'channels.me.api_root',
      ],
      [
        'a name ending in localhost is not loopback',
        { channels: { me: { ...tg, api_root: 'http://localhost.evil.example' } } },
        'channels.me.api_root',
      ],
    ])('refuses plain http for %s when the config loads, naming the key', (_label, raw, key) => {
      expect(() => parseConfig(raw, {})).toThrow(ConfigError);
      expect(() => parseConfig(raw, {})).toThrow(`${key}: ${refused}`);
    });

    it('refuses other schemes and accepts https and loopback http', () => {
      expect(() => parseConfig({ channels: { w: { type: 'webhook', url: 'ftp://files.example.com/x' } } }, {})).toThrow(
        /channels\.w\.url: unsupported URL scheme ftp:/,
      );
      for (const ok of [
        'https://bot.example.com',
        'http://127.0.0.1:8081',
        'http://127.9.9.9',
        'http://localhost:1',
        'http://[::1]:9',
      ]) {
        const c = parseConfig({ channels: { me: { ...tg, api_root: ok } } }, {});
        expect(c.channels['me']).toMatchObject({ api_root: ok });
      }
      const c = parseConfig(box({ gmail: { connection: 'g', api_base: 'http://127.0.0.1:9/gmail' } }), {});
      expect(c.mailboxes['m']?.send).toHaveLength(1);
    });

    it('the same rule, in the same words, guards OAuth endpoints at first use', () => {
      expect(() => checkEndpointUrl('http://oauth.example.com/token', 'token_url')).toThrow(`token_url: ${refused}`);
      expect(checkEndpointUrl('http://127.0.0.1:9/token', 'token_url')).toBe(true);
      expect(checkEndpointUrl('https://oauth.example.com/token', 'token_url')).toBe(false);
    });
  });

  it('names the key and variable when ${VAR} is unset, and supports ${VAR:-default}', () => {
    expect(() => parseConfig({ connections: { g: { provider: 'google', client_id: '${NOPE}' } } }, {})).toThrow(
      /connections\.g\.client_id: environment variable NOPE is not set/,
    );
    const c = parseConfig({ connections: { g: { provider: 'google', client_id: '${NOPE:-fallback}' } } }, {});
    expect(c.connections['g']?.client_id).toBe('fallback');
  });

  it('parses identical connections once and shares the result, keeping names, order and errors per key', () => {
    const app = { provider: 'google', client_id: '${CID}', scopes: ['openid'] };
    const raw = {
      connections: { b: { ...app }, a: { ...app }, other: { ...app, client_id: 'x' }, c: { ...app } },
    };
    const c = parseConfig(raw, { CID: 'from-env' });
    expect(Object.keys(c.connections)).toEqual(['b', 'a', 'other', 'c']);
    expect(c.connections['a']).toBe(c.connections['b']);
    expect(c.connections['c']).toBe(c.connections['b']);
    expect(c.connections['other']).not.toBe(c.connections['b']);
    expect(c.connections['a']?.client_id).toBe('from-env');
    expect(c.connections['other']?.client_id).toBe('x');
    // The input is not changed.
    expect(raw.connections.a.client_id).toBe('${CID}');
    // A bad name among identical values is reported under its own key.
    expect(() => parseConfig({ connections: { good: { ...app }, 'bad name': { ...app } } }, { CID: 'x' })).toThrow(
      /bad name/,
    );
    // An error in shared settings names the first connection that has them.
    expect(() =>
      parseConfig({ connections: { first: { provider: 'nope' }, second: { provider: 'nope' } } }, {}),
    ).toThrow(/connections\.first\.provider/);
    // A reference error is found through the shared object too.
    expect(() =>
      parseConfig(
        { connections: { x: { ...app, notify: ['ghost'] }, y: { ...app, notify: ['ghost'] } } },
        { CID: 'x' },
      ),
    ).toThrow(/connections\.x\.notify\[0\]: .*unknown channel "ghost"/);
  });

  it('refuses a key that appears twice in one mapping, naming it and where', () => {
    expect(() =>
      loadConfigFile(write('connections:\n  a: { provider: google }\n  a: { provider: github }\n'), {}),
    ).toThrow(/is not valid YAML: the key "a" appears twice in one mapping \(line 3, column 3\)$/);
    expect(() => loadConfigFile(write('store: sqlite:x.db\nstore: sqlite:y.db\n'), {})).toThrow(
      /the key "store" appears twice in one mapping \(line 2, column 1\)/,
    );
    expect(() =>
      loadConfigFile(write('connections:\n  a:\n    provider: google\n    scopes: [x]\n    scopes: [y]\n'), {}),
    ).toThrow(/the key "scopes" appears twice in one mapping \(line 5, column 5\)/);
    // The same key in different mappings is fine.
    expect(
      Object.keys(
        loadConfigFile(
          write('connections:\n  a: { provider: google, client_id: x }\n  b: { provider: google, client_id: x }\n'),
          {},
        ).config.connections,
      ),
    ).toEqual(['a', 'b']);
  });

  it('reports YAML syntax errors without echoing values', () => {
    expect(() => loadConfigFile(write('connections: [\n  bad: : :'), {})).toThrow(/is not valid YAML/);
  });

  it('finds the config via flag, TOKENWARDEN_CONFIG, then ./tokenwarden.yaml', () => {
    const p = write('{}');
    const dir = join(p, '..');
    expect(findConfigPath({ flag: p, env: {}, cwd: '/' })).toBe(p);
    expect(findConfigPath({ env: { TOKENWARDEN_CONFIG: p }, cwd: '/' })).toBe(p);
    expect(findConfigPath({ env: {}, cwd: dir })).toBe(p);
    expect(() => findConfigPath({ env: {}, cwd: tmpdir() + '/definitely-missing' })).toThrow(/tokenwarden init/);
  });
});
