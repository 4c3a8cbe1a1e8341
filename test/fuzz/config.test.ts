/**
 * Bad input: the config loader on random objects and random YAML. Every outcome
 * is a valid Config or a ConfigError (TW_CONFIG) whose message names what is wrong — never a
 * TypeError from deep inside, never a silent acceptance of a broken reference.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { loadConfigFile, parseConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/core/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'tw-fuzz-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function outcome(fn: () => unknown): 'ok' | 'rejected' {
  try {
    fn();
    return 'ok';
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as ConfigError).code).toBe('TW_CONFIG');
    expect((e as Error).message.length).toBeGreaterThan(10);
    return 'rejected';
  }
}

/** Config-shaped objects: the right keys with random (often wrong) values, plus stray keys. */
const value = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string({ maxLength: 10 }), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 3 }),
);
const connection = fc.record(
  {
    provider: fc.oneof(fc.constantFrom('google', 'microsoft', 'github', 'oidc', 'oauth2'), value),
    kind: fc.oneof(fc.constantFrom('oauth', 'client_credentials', 'service_account', 'static'), value),
    client_id: value,
    client_secret: value,
    scopes: value,
    issuer: fc.oneof(fc.constant('https://id.example.com'), value),
    token_url: fc.oneof(fc.constant('https://id.example.com/token'), value),
    auth_url: fc.oneof(fc.constant('https://id.example.com/auth'), value),
    notify: fc.oneof(fc.constant(['ops']), value),
    reauth_lead: fc.oneof(fc.constantFrom('24h', '90s', 'soon', -5), value),
    quiet_hours: fc.oneof(fc.constantFrom('22:00-07:30 Europe/Berlin', '25:99-00:00', '22:00-07:00 Not/AZone'), value),
    secret: value,
  },
  { requiredKeys: [] },
);
const configObject = fc.record(
  {
    store: fc.oneof(fc.constantFrom('sqlite:state.db', ':memory:', 'postgres://u@h/db', 'mysql://x'), value),
    key: fc.oneof(fc.constantFrom('env:TW_KEY', 'file:key', 'raw-key'), value),
    server: fc.oneof(
      fc.record(
        { listen: fc.oneof(fc.constantFrom('127.0.0.1:7465', '0.0.0.0:80', 'nope'), value) },
        { requiredKeys: [] },
      ),
      value,
    ),
    channels: fc.oneof(
      fc.dictionary(
        fc.constantFrom('ops', 'x y', ''),
        fc.record(
          {
            type: fc.constantFrom('telegram', 'slack', 'console', 'pager'),
            url: value,
            bot_token: value,
            chat_id: value,
            allow_from: value,
          },
          { requiredKeys: ['type'] },
        ),
        { maxKeys: 2 },
      ),
      value,
    ),
    connections: fc.oneof(
      fc.dictionary(fc.constantFrom('gmail', 'sandbox', 'bad name!', '${X}'), connection, { maxKeys: 2 }),
      value,
    ),
    mailboxes: fc.oneof(
      fc.dictionary(
        fc.constantFrom('agent'),
        fc.record({ address: value, send: fc.oneof(fc.constant([{ gmail: 'gmail' }]), value) }, { requiredKeys: [] }),
        { maxKeys: 1 },
      ),
      value,
    ),
    extra: value,
  },
  { requiredKeys: [] },
);

describe('config loader on arbitrary input', () => {
  it('parseConfig: a Config or a ConfigError naming the problem, for any value', () => {
    fc.assert(
      fc.property(fc.oneof(fc.anything(), configObject), (raw) => {
        outcome(() => parseConfig(raw, { TW_KEY: 'x' }));
      }),
      { numRuns: 600 },
    );
  });

  it('notify names are accepted exactly when every one is a configured channel', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('ops', 'pager', 'OPS', 'ops '), { maxLength: 3 }), (notify) => {
        const raw = {
          store: ':memory:',
          key: 'env:TW_KEY',
          channels: { ops: { type: 'console' } },
          connections: {
            a: {
              provider: 'oauth2',
              client_id: 'c',
              auth_url: 'https://a.example/a',
              token_url: 'https://a.example/t',
              notify,
            },
          },
        };
        const valid = notify.every((n) => n === 'ops');
        expect(outcome(() => parseConfig(raw, {}))).toBe(valid ? 'ok' : 'rejected');
      }),
      { numRuns: 100 },
    );
  });

  it('a secret-carrying URL is accepted exactly when it is https, or http to a loopback host', () => {
    const host = fc.oneof(
      fc.constantFrom('localhost', '127.0.0.1', '127.255.3.9', '[::1]', 'LOCALHOST'),
      fc.constantFrom('localhost.evil.example', '128.0.0.1', '10.0.0.1', '[::2]', '0.0.0.0', 'api.example.com'),
      fc.domain(),
      fc.ipV4(),
    );
    const loopback = (h: string): boolean => /^(localhost|\[::1\]|127(\.\d{1,3}){3})$/i.test(h);
    fc.assert(
      fc.property(
        fc.constantFrom('http', 'https'),
        host,
        fc.constantFrom('api_root', 'slack', 'ntfy', 'webhook', 'api_base'),
        (scheme, h, where) => {
          const u = `${scheme}://${h}:8443/x`;
          const raw =
            where === 'api_root'
              ? { channels: { c: { type: 'telegram', bot_token: 't', chat_id: 1, allow_from: [1], api_root: u } } }
              : where === 'api_base'
                ? {
                    connections: { g: { provider: 'google', client_id: 'x' } },
                    mailboxes: { m: { address: 'a@b.c', send: [{ graph: { connection: 'g', api_base: u } }] } },
                  }
                : { channels: { c: { type: where, url: u } } };
          const ok = scheme === 'https' || loopback(h);
          expect(outcome(() => parseConfig(raw, {}))).toBe(ok ? 'ok' : 'rejected');
          if (!ok)
            expect(() => parseConfig(raw, {})).toThrow(
              /http:\/\/ is allowed only to a loopback host .*; use https:\/\//,
            );
        },
      ),
      { numRuns: 300 },
    );
  });

  it('loadConfigFile: random YAML text and YAML of random objects → Config or ConfigError', () => {
    let i = 0;
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 200 }),
          configObject.map((o) => stringify(o)),
          fc.constantFrom('a: [1,', 'x: &a [*a]', '- - -', 'key: !!binary zz', 'a: 1\na: 2', '{{{', '\t- x'),
        ),
        (text) => {
          const path = join(dir, `c${i++ % 8}.yaml`);
          writeFileSync(path, text);
          outcome(() => loadConfigFile(path, { TW_KEY: 'x' }));
        },
      ),
      { numRuns: 250 },
    );
  });

  it('a self-referencing YAML alias is a ConfigError, not a stack overflow', () => {
    const path = join(dir, 'alias.yaml');
    writeFileSync(path, 'store: ":memory:"\nkey: env:TW_KEY\nconnections: &a { x: *a }\n');
    expect(() => loadConfigFile(path, {})).toThrow(/circular/);
    writeFileSync(path, 'store: *nowhere\n');
    expect(() => loadConfigFile(path, {})).toThrow(ConfigError);
  });

  it('aliases that expand without bound ("billion laughs") are refused, not walked', () => {
    const path = join(dir, 'laughs.yaml');
    const levels = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 9; i++) {
      const prev = String.fromCharCode(96 + i);
      const name = String.fromCharCode(97 + i);
      levels.push(`${name}: &${name} [${Array.from({ length: 10 }, () => `*${prev}`).join(', ')}]`);
    }
    writeFileSync(path, `store: ":memory:"\nkey: env:TW_KEY\nbomb:\n${levels.map((l) => `  ${l}`).join('\n')}\n`);
    expect(() => loadConfigFile(path, {})).toThrow(/expands to more than 10000000 values \(YAML aliases\?\)/);
  });

  it('a ${VAR} that is not set is refused naming the key, not expanded to nothing', () => {
    expect(() =>
      parseConfig(
        {
          store: ':memory:',
          key: 'env:K',
          connections: {
            a: {
              provider: 'oauth2',
              client_id: '${NOPE_NOT_SET}',
              auth_url: 'https://a.example/a',
              token_url: 'https://a.example/t',
            },
          },
        },
        {},
      ),
    ).toThrow(/NOPE_NOT_SET/);
  });
});
