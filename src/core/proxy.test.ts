import { describe, expect, it } from 'vitest';
import { proxyFor, readProxyEnv } from './proxy.js';

const target = (u: string): URL => new URL(u);
const via = (env: Record<string, string>, url: string): string | null =>
  proxyFor(target(url), readProxyEnv(env))?.host ?? null;

describe('proxy variables', () => {
  it('is off with no proxy variable (empty values count as unset)', () => {
    expect(readProxyEnv({})).toBeNull();
    expect(readProxyEnv({ HTTPS_PROXY: '', http_proxy: '  ', NO_PROXY: 'x' })).toBeNull();
  });

  it('picks the proxy by the target scheme; lowercase wins; ALL_PROXY fills in', () => {
    const env = { HTTPS_PROXY: 'http://up:1', https_proxy: 'low:2', HTTP_PROXY: 'plain:3' };
    expect(via(env, 'https://api.example.com/x')).toBe('low:2');
    expect(via(env, 'http://api.example.com/x')).toBe('plain:3');
    expect(via({ ALL_PROXY: 'all:4' }, 'https://a.example/')).toBe('all:4');
    expect(via({ HTTP_PROXY: 'plain:3' }, 'https://a.example/')).toBeNull();
  });

  it('NO_PROXY: names match the host and its subdomains, with or without a leading dot', () => {
    const env = { HTTPS_PROXY: 'p:1', NO_PROXY: 'example.com, .corp.local  internal' };
    expect(via(env, 'https://example.com/')).toBeNull();
    expect(via(env, 'https://api.example.com/')).toBeNull();
    expect(via(env, 'https://corp.local/')).toBeNull();
    expect(via(env, 'https://a.b.corp.local/')).toBeNull();
    expect(via(env, 'https://internal:8443/')).toBeNull();
    expect(via(env, 'https://notexample.com/')).toBe('p:1');
    expect(via(env, 'https://example.com.evil.net/')).toBe('p:1');
    expect(via(env, 'https://API.EXAMPLE.COM./')).toBeNull();
  });

  it('NO_PROXY: IP addresses and CIDR ranges match IP-literal hosts; * bypasses everything', () => {
    const env = { HTTPS_PROXY: 'p:1', NO_PROXY: '10.0.0.0/8,192.168.1.5,[::1],fd00::/8' };
    expect(via(env, 'https://10.2.3.4/')).toBeNull();
    expect(via(env, 'https://192.168.1.5/')).toBeNull();
    expect(via(env, 'https://192.168.1.6/')).toBe('p:1');
    expect(via(env, 'https://[::1]:9/')).toBeNull();
    expect(via(env, 'https://[fd12::1]/')).toBeNull();
    expect(via(env, 'https://11.0.0.1/')).toBe('p:1');
    expect(via({ HTTPS_PROXY: 'p:1', NO_PROXY: '*' }, 'https://anything.example/')).toBeNull();
  });

  it('loopback is proxied unless NO_PROXY names it (as curl does)', () => {
    expect(via({ HTTP_PROXY: 'p:1' }, 'http://127.0.0.1:8080/')).toBe('p:1');
    expect(via({ HTTP_PROXY: 'p:1', NO_PROXY: 'localhost,127.0.0.1' }, 'http://127.0.0.1:8080/')).toBeNull();
    expect(via({ HTTP_PROXY: 'p:1', NO_PROXY: 'localhost,127.0.0.1' }, 'http://localhost:8080/')).toBeNull();
  });

  it('refuses unusable values, naming the variable and never echoing a password', () => {
    expect(() => readProxyEnv({ HTTPS_PROXY: 'socks5://u:pw-123@h:1' })).toThrow(
      'HTTPS_PROXY: only http:// proxies are supported, not socks5://',
    );
    expect(() => readProxyEnv({ http_proxy: 'http://u:pw-123@[bad' })).toThrow(
      /^http_proxy is not a valid proxy URL \(expected http:\/\/host:port\)$/,
    );
  });
});
