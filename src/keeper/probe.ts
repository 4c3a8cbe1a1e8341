/**
 * Live health probes (`tokenwarden check`, the daemon's schedule): a cheap authenticated GET
 * chosen from the provider profile to fit the granted scopes (Gmail `users.getProfile` does not
 * accept `gmail.send` alone).
 */
import { ConfigError, ReauthRequiredError, TransientError } from '../core/errors.js';
import { isTransientStatus } from '../core/http-policy.js';
import { discoverIssuer } from '../oauth/discovery-cache.js';
import { outboundUrlProblem } from '../oauth/endpoint-policy.js';
import { providerFetch } from '../oauth/provider-fetch.js';
import { probeFor, probeUrl } from '../providers/index.js';
import type { Clock } from '../core/clock.js';
import type { EventSink } from '../core/types.js';
import type { Store } from '../store/types.js';
import type { AccessTokenInfo } from './keeper.js';
import type { ConnectionRuntime } from './runtime.js';

/** What a probe uses (the root builds it; docs/architecture.md, "The object graph"). */
export interface ProbeDeps {
  connections: ReadonlyMap<string, ConnectionRuntime>;
  store: Pick<Store, 'getConnection'>;
  sink: EventSink;
  deps: { clock: Clock; fetch: typeof fetch };
  tokenInfo(conn: string): Promise<AccessTokenInfo>;
  /** `fetch` with the connection's token, refreshed once on 401. */
  fetch(conn: string, url: string | URL, init?: RequestInit): Promise<Response>;
}

export interface ProbeResult {
  connection: string;
  ok: boolean;
  /** `ok`, `reauth_required`, `unavailable`, `skipped`, `failed`. */
  outcome: string;
  account?: string | undefined;
  status?: number | undefined;
  detail: string;
  ms: number;
}

export async function probeConnection(warden: ProbeDeps, name: string): Promise<ProbeResult> {
  const started = warden.deps.clock.now();
  const rt = warden.connections.get(name);
  const result = (r: Omit<ProbeResult, 'connection' | 'ms'>): ProbeResult => ({
    connection: name,
    ms: warden.deps.clock.now() - started,
    ...r,
  });
  if (!rt) return result({ ok: false, outcome: 'failed', detail: `unknown connection ${name}` });
  let out: ProbeResult;
  try {
    const info = await warden.tokenInfo(name);
    const granted = (await warden.store.getConnection(name))?.scope?.split(' ') ?? rt.config.scopes;
    const probe = probeFor(rt.profile, granted);
    const url = probe
      ? (probeUrl(rt.profile, probe) ??
        (probe.url === 'userinfo' ? await discoveredUserinfo(warden, rt.profile.endpoints.issuer) : null))
      : null;
    if (!probe || !url)
      out = result({
        ok: true,
        outcome: 'skipped',
        detail: `token valid (${info.state}); no probe fits the granted scopes`,
      });
    else {
      const res = await warden.fetch(name, url, { signal: AbortSignal.timeout(15_000) });
      if (res.ok) {
        const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
        const account = probe.accountField ? body[probe.accountField] : undefined;
        out = result({
          ok: true,
          outcome: 'ok',
          status: res.status,
          account: typeof account === 'string' ? account : undefined,
          detail: `GET ${new URL(url).pathname} → ${res.status}`,
        });
      } else {
        await res.body?.cancel();
        out = result({
          ok: false,
          outcome: isTransientStatus(res.status) ? 'unavailable' : 'failed',
          status: res.status,
          detail: `GET ${new URL(url).pathname} → ${res.status}`,
        });
      }
    }
  } catch (err) {
    if (err instanceof ReauthRequiredError)
      out = result({ ok: false, outcome: 'reauth_required', detail: err.message });
    else if (err instanceof TransientError) out = result({ ok: false, outcome: 'unavailable', detail: err.message });
    else out = result({ ok: false, outcome: 'failed', detail: (err as Error).message });
  }
  await warden.sink.emit({
    type: out.ok ? 'probe_ok' : 'probe_failed',
    connection: name,
    message: out.ok ? `Probe ok: ${out.detail}` : `Probe failed (${out.outcome}): ${out.detail}`,
    data: { outcome: out.outcome, status: out.status ?? null, ms: out.ms },
  });
  return out;
}

/**
 * OIDC: the userinfo endpoint from the issuer's discovery document, through the process-wide
 * discovery cache the grant client fills (usually no request at all). The issuer and the endpoint
 * obey the endpoint policy: the probe sends a bearer token there, so an endpoint that is not
 * https (or http on loopback) is a ConfigError, never a request. Null when discovery fails or
 * names no userinfo endpoint.
 */
async function discoveredUserinfo(warden: ProbeDeps, issuer: string | undefined): Promise<string | null> {
  if (!issuer) return null;
  let endpoint: unknown;
  try {
    const fetch = providerFetch({
      fetch: warden.deps.fetch,
      timeoutMs: DISCOVERY_TIMEOUT_MS,
      acceptJson: true,
      idTokenPassthrough: false,
    });
    const md = await discoverIssuer(issuer, { fetch, timeoutMs: DISCOVERY_TIMEOUT_MS, now: warden.deps.clock.now() });
    endpoint = md.userinfo_endpoint;
  } catch {
    return null;
  }
  if (typeof endpoint !== 'string') return null;
  const problem = outboundUrlProblem(endpoint);
  if (problem) throw new ConfigError(`the issuer's userinfo endpoint: ${problem}`, { path: 'issuer' });
  return endpoint;
}

const DISCOVERY_TIMEOUT_MS = 10_000;
