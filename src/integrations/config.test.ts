/** The integration settings of a connection: `api_proxy`, `git_hosts`, `git_username` — accepted and refused. */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../config/load.js';
import { ConfigError } from '../core/errors.js';
import { gitHostsFor } from './git.js';

const conn = (extra: Record<string, unknown>): unknown => ({
  connections: { a: { provider: 'oidc', issuer: 'https://id.example.com', client_id: 'x', ...extra } },
});

describe('integration settings', () => {
  it('accepts an api_proxy with defaults filled in', () => {
    const c = parseConfig(conn({ api_base: 'https://api.example.com/', api_proxy: { paths: ['/v1/items'] } }), {});
    expect(c.connections['a']?.api_proxy).toEqual({
      methods: ['GET'],
      paths: ['/v1/items'],
      max_request_bytes: 10 * 1024 * 1024,
      max_response_bytes: 50 * 1024 * 1024,
      timeout: 60_000,
    });
  });

  it.each([
    ['api_proxy without api_base (oidc)', { api_proxy: { paths: ['/x'] } }, /a\.api_base: api_proxy needs api_base/],
    [
      'a path with ..',
      { api_base: 'https://a.example/', api_proxy: { paths: ['/v1/../admin'] } },
      /\. or \.\. segments/,
    ],
    [
      'a percent-encoded path',
      { api_base: 'https://a.example/', api_proxy: { paths: ['/v1/%2e%2e'] } },
      /no percent-encoding/,
    ],
    ['a relative path', { api_base: 'https://a.example/', api_proxy: { paths: ['v1'] } }, /starting with \//],
    ['no paths', { api_base: 'https://a.example/', api_proxy: { paths: [] } }, /paths/],
    [
      'an unknown method',
      { api_base: 'https://a.example/', api_proxy: { paths: ['/v1'], methods: ['TRACE'] } },
      /methods/,
    ],
    ['a git host with a path', { git_hosts: ['github.com/org'] }, /git_hosts\[0\]: expected host\[:port\]/],
    ['a git username with a space', { git_username: 'a b' }, /git_username/],
  ])('refuses %s, naming the key', (_label, extra, message) => {
    expect(() => parseConfig(conn(extra), {})).toThrow(ConfigError);
    expect(() => parseConfig(conn(extra), {})).toThrow(message);
  });

  it('git hosts: host[:port] means https, http:// kept, github.com by default for GitHub only', () => {
    const c = parseConfig(conn({ git_hosts: ['Git.Example.com', 'http://127.0.0.1:3000', 'https://h:8443'] }), {});
    expect(gitHostsFor(c.connections['a']!, 'oidc')).toEqual([
      'https://git.example.com',
      'http://127.0.0.1:3000',
      'https://h:8443',
    ]);
    expect(gitHostsFor(parseConfig(conn({}), {}).connections['a']!, 'github')).toEqual(['https://github.com']);
    expect(gitHostsFor(parseConfig(conn({}), {}).connections['a']!, 'oidc')).toEqual([]);
  });
});
