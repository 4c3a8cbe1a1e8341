/**
 * Outbound HTTP through a proxy, configured the way curl and most tools read it from the
 * environment:
 *
 * - `https_proxy` / `HTTPS_PROXY` for https:// URLs, `http_proxy` / `HTTP_PROXY` for http:// URLs,
 *   `all_proxy` / `ALL_PROXY` for either when the specific one is unset (lowercase wins when both
 *   are set; an empty value counts as unset). The proxy is an `http://host:port` URL (no scheme
 *   means http://); `user:password@` in it is sent as `Proxy-Authorization: Basic`.
 * - `no_proxy` / `NO_PROXY`: a comma- or space-separated list; `*` alone means "no proxy at all";
 *   a name matches that host and every subdomain (`example.com` and `.example.com` both match
 *   `api.example.com`); an IP address or CIDR range (`10.0.0.0/8`, `::1`) matches IP-literal hosts.
 *   Ports are not part of an entry.
 * - Loopback is not special: as with curl, `127.0.0.1` and `localhost` go through the proxy unless
 *   `NO_PROXY` names them. Behind a corporate proxy, put `localhost,127.0.0.1,::1` in `NO_PROXY`
 *   if local endpoints are used.
 *
 * Provider requests use the node:http client (src/oauth/http-client.ts), which tunnels https with
 * CONNECT and sends absolute-URI requests for http. Everything else that goes out over HTTP
 * (channels, Gmail/Graph mail routes, `warden.fetch`) uses {@link createProxiedFetch}: the global
 * fetch when no proxy applies to the URL, the `undici` package's fetch with a `ProxyAgent` when
 * one does (Node 20's and Node 24's built-in fetch cannot be given a proxy from the environment
 * alike).
 */
import { BlockList, isIP } from 'node:net';
import { ProxyAgent, fetch as undiciFetch } from 'undici';
import { ConfigError } from './errors.js';

export type Env = Record<string, string | undefined>;

export interface ProxySettings {
  /** Proxy for http:// URLs, or null. */
  readonly http: URL | null;
  /** Proxy for https:// URLs, or null. */
  readonly https: URL | null;
  /** True when `NO_PROXY` is `*`. */
  readonly bypassAll: boolean;
  /** Host names (lowercase, no leading dot) that bypass the proxy with their subdomains. */
  readonly bypassNames: readonly string[];
  /** IP addresses and ranges that bypass the proxy. */
  readonly bypassIps: BlockList;
}

function firstSet(env: Env, names: string[]): [string, string] | null {
  for (const n of names) {
    const v = env[n]?.trim();
    if (v) return [n, v];
  }
  return null;
}

function parseProxyUrl(variable: string, value: string): URL {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    // The value may hold a password: name the variable, not its content.
    throw new ConfigError(`${variable} is not a valid proxy URL (expected http://host:port)`);
  }
  if (url.protocol !== 'http:')
    throw new ConfigError(`${variable}: only http:// proxies are supported, not ${url.protocol.slice(0, -1)}://`);
  if (!url.hostname) throw new ConfigError(`${variable} names no proxy host (expected http://host:port)`);
  return url;
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** Proxy settings from the environment, or null when no proxy variable is set. Throws ConfigError on a bad value. */
export function readProxyEnv(env: Env = process.env): ProxySettings | null {
  const all = firstSet(env, ['all_proxy', 'ALL_PROXY']);
  const http = firstSet(env, ['http_proxy', 'HTTP_PROXY']) ?? all;
  const https = firstSet(env, ['https_proxy', 'HTTPS_PROXY']) ?? all;
  if (!http && !https) return null;
  const noProxy = firstSet(env, ['no_proxy', 'NO_PROXY'])?.[1] ?? '';
  const bypassNames: string[] = [];
  const bypassIps = new BlockList();
  let bypassAll = false;
  for (const raw of noProxy.split(/[\s,]+/)) {
    const entry = stripBrackets(raw.trim().toLowerCase());
    if (!entry) continue;
    if (entry === '*') {
      bypassAll = true;
      continue;
    }
    const slash = entry.indexOf('/');
    const ip = slash >= 0 ? entry.slice(0, slash) : entry;
    const family = isIP(ip);
    if (family !== 0) {
      const type = family === 4 ? 'ipv4' : 'ipv6';
      const prefix = slash >= 0 ? Number(entry.slice(slash + 1)) : NaN;
      if (slash < 0) bypassIps.addAddress(ip, type);
      else if (Number.isInteger(prefix) && prefix >= 0 && prefix <= (family === 4 ? 32 : 128))
        bypassIps.addSubnet(ip, prefix, type);
      continue; // a malformed range matches nothing, as in curl
    }
    bypassNames.push(entry.replace(/^\.+/, '').replace(/\.+$/, ''));
  }
  return {
    http: http ? parseProxyUrl(http[0], http[1]) : null,
    https: https ? parseProxyUrl(https[0], https[1]) : null,
    bypassAll,
    bypassNames: bypassNames.filter((n) => n !== ''),
    bypassIps,
  };
}

/** The proxy to use for `target`, or null to connect directly. */
export function proxyFor(target: URL, settings: ProxySettings | null): URL | null {
  if (!settings) return null;
  const proxy = target.protocol === 'https:' ? settings.https : target.protocol === 'http:' ? settings.http : null;
  if (!proxy || settings.bypassAll) return null;
  const host = stripBrackets(target.hostname.toLowerCase()).replace(/\.+$/, '');
  const family = isIP(host);
  if (family !== 0) {
    if (settings.bypassIps.check(host, family === 4 ? 'ipv4' : 'ipv6')) return null;
  }
  for (const name of settings.bypassNames) if (host === name || host.endsWith(`.${name}`)) return null;
  return proxy;
}

/** `Proxy-Authorization` for a proxy URL with credentials. */
export function proxyAuthorization(proxy: URL): string | undefined {
  if (!proxy.username && !proxy.password) return undefined;
  const user = decodeURIComponent(proxy.username);
  const pass = decodeURIComponent(proxy.password);
  return `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
}

/** The proxy's host and port for messages (never its credentials). */
export function describeProxy(proxy: URL): string {
  return `${proxy.hostname}:${proxy.port || '80'}`;
}

/**
 * A `fetch` that sends each request through the environment's proxy when one applies to its URL
 * and through `base` otherwise. With no proxy variable set it is `base` itself.
 */
export function createProxiedFetch(settings: ProxySettings | null, base: typeof fetch): typeof fetch {
  if (!settings) return base;
  const agents = new Map<string, ProxyAgent>();
  const agentFor = (proxy: URL): ProxyAgent => {
    let agent = agents.get(proxy.href);
    if (!agent) {
      const auth = proxyAuthorization(proxy);
      const bare = new URL(proxy.href);
      bare.username = '';
      bare.password = '';
      agent = new ProxyAgent({ uri: bare.href, ...(auth ? { token: auth } : {}) });
      agents.set(proxy.href, agent);
    }
    return agent;
  };
  return (async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const proxy = proxyFor(url, settings);
    if (!proxy) return base(input, init);
    // undici's own fetch with its own dispatcher: the pair works alike on every Node version.
    const fromRequest: RequestInit =
      input instanceof Request
        ? {
            method: input.method,
            headers: input.headers,
            body: input.body,
            redirect: input.redirect,
            signal: input.signal,
            ...(input.body ? { duplex: 'half' } : {}),
          }
        : {};
    const res = await undiciFetch(url, {
      ...fromRequest,
      ...(init as object),
      dispatcher: agentFor(proxy),
    } as Parameters<typeof undiciFetch>[1]);
    return res as unknown as Response;
  }) as typeof fetch;
}

let processFetch: typeof fetch | undefined;

/**
 * The process-wide default for outbound API calls (channels, mail routes): the global fetch,
 * through the proxy that `process.env` names. Read once, on first use.
 */
export const outboundFetch: typeof fetch = (async (input: string | URL | Request, init?: RequestInit) => {
  processFetch ??= createProxiedFetch(readProxyEnv(process.env), (i, o) => globalThis.fetch(i, o));
  return processFetch(input, init);
}) as typeof fetch;
