/**
 * Opening a flow: device code where the provider and scopes allow it, else authorization code
 * with PKCE S256 and a single-use state. The flow row is committed before anything is returned,
 * so no link leaves before it can be completed.
 */
import { randomBytes } from 'node:crypto';
import { ConfigError, ProviderError, TransientError } from '../core/errors.js';
import type { ConnectionRuntime } from '../keeper/runtime.js';
import type { GrantClient } from '../oauth/types.js';
import type { FlowKind, FlowRecord } from '../store/types.js';
import { AUTH_LINK_TTL_MS, runtimeOf, type FlowServiceDeps } from './flow-types.js';

export interface OpenOptions {
  reason?: string;
  kind?: FlowKind;
  fresh?: boolean;
}

/** Which flow a connection gets: config `flow`, else device code when allowed, else auth code. */
export function pickKind(rt: ConnectionRuntime): FlowKind {
  if (rt.config.flow === 'device') return 'device_code';
  if (rt.config.flow === 'auth_code') return 'auth_code';
  const hasDevice = Boolean(rt.profile.endpoints.deviceUrl) || rt.profile.id === 'oidc';
  return hasDevice && rt.profile.deviceFlowAllowed(rt.config.scopes) ? 'device_code' : 'auth_code';
}

/**
 * Open a flow (the caller holds the connection's open lease): an open unexpired one is returned
 * unless `fresh`; expired or replaced ones are closed first.
 */
export async function openFlow(deps: FlowServiceDeps, name: string, opts: OpenOptions): Promise<FlowRecord> {
  const rt = runtimeOf(deps, name);
  const { store, clock } = deps;
  const now = clock.now();
  for (const f of await store.listOpenFlows(name)) {
    if (f.expiresAt > now && !opts.fresh) return f;
    await store.finishFlow(
      f.id,
      opts.fresh && f.expiresAt > now ? 'cancelled' : 'expired',
      now,
      opts.fresh ? 'replaced by a fresh link' : 'link expired',
    );
  }
  await store.ensureConnection(name, now);
  const client = await rt.client();
  const id = randomBytes(9).toString('base64url');
  let deviceError: unknown = null;
  if ((opts.kind ?? pickKind(rt)) === 'device_code') {
    try {
      return await openDeviceFlow(deps, rt, client, id, opts.reason, now);
    } catch (err) {
      if (opts.kind === 'device_code' || rt.config.flow === 'device') throw err;
      deps.logger.info('device flow unavailable, using authorization code', {
        connection: name,
        error: (err as Error).message,
      });
      deviceError = err;
    }
  }
  return openAuthCodeFlow(deps, rt, client, id, opts.reason, now, deviceError);
}

async function openDeviceFlow(
  deps: FlowServiceDeps,
  rt: ConnectionRuntime,
  client: GrantClient,
  id: string,
  reason: string | undefined,
  now: number,
): Promise<FlowRecord> {
  const d = await client.startDeviceAuthorization();
  const flow = await deps.store.createFlow({
    id,
    connection: rt.name,
    kind: 'device_code',
    state: null,
    codeVerifier: null,
    deviceCode: d.deviceCode,
    nonce: null,
    userCode: d.userCode,
    url: d.verificationUriComplete ?? d.verificationUri,
    redirectUri: null,
    interval: d.interval,
    reason: reason ?? 'manual',
    askedVia: [],
    createdAt: now,
    expiresAt: d.expiresAt,
  });
  await markOpened(deps, flow);
  return flow;
}

async function openAuthCodeFlow(
  deps: FlowServiceDeps,
  rt: ConnectionRuntime,
  client: GrantClient,
  id: string,
  reason: string | undefined,
  now: number,
  deviceError: unknown,
): Promise<FlowRecord> {
  const redirectUri = rt.config.redirect_uri ?? deps.defaultRedirectUri;
  if (!redirectUri) {
    // The device flow failed and there is no auth-code fallback: its failure is the real story.
    if (deviceError instanceof TransientError) throw deviceError;
    throw new ConfigError(deviceUnavailableMessage(rt.name, rt, deviceError));
  }
  const req = await client.authorizationRequest({
    redirectUri,
    ...(rt.config.auth_params ? { extraParams: rt.config.auth_params } : {}),
  });
  const flow = await deps.store.createFlow({
    id,
    connection: rt.name,
    kind: 'auth_code',
    state: req.state,
    codeVerifier: req.codeVerifier,
    deviceCode: null,
    nonce: req.nonce ?? null,
    userCode: null,
    url: req.url,
    redirectUri: req.redirectUri,
    interval: null,
    reason: reason ?? 'manual',
    askedVia: [],
    createdAt: now,
    expiresAt: now + AUTH_LINK_TTL_MS,
  });
  await markOpened(deps, flow);
  return flow;
}

/** A dead grant now awaits its human; the opening is recorded. */
async function markOpened(deps: FlowServiceDeps, flow: FlowRecord): Promise<void> {
  const current = await deps.store.getConnection(flow.connection);
  if (current && (current.state === 'reauth_required' || current.state === 'unauthorized'))
    await deps.store.updateConnection(
      flow.connection,
      { state: current.state === 'reauth_required' ? 'awaiting_human' : current.state },
      { now: deps.clock.now() },
    );
  await deps.events.emit({
    type: 'reauth_requested',
    connection: flow.connection,
    message: `Opened ${flow.kind === 'device_code' ? 'a device-code' : 'an authorization-code'} flow (${flow.reason ?? 'manual'}); link valid until ${new Date(flow.expiresAt).toISOString()}.`,
    data: { flowId: flow.id, kind: flow.kind, expiresAt: flow.expiresAt, reason: flow.reason },
  });
}

/** Why `connect` cannot proceed: the device flow was refused and no redirect URI allows the auth-code flow. */
function deviceUnavailableMessage(name: string, rt: ConnectionRuntime, err: unknown): string {
  const redirect = `connections.${name}.redirect_uri: required for the authorization-code flow (or set server.public_url)`;
  if (err === null) return redirect;
  const said = err instanceof ProviderError ? err.error : (err as Error).message;
  const fix =
    err instanceof ProviderError && err.error === 'device_flow_disabled'
      ? `enable Device Flow in the ${rt.profile.displayName} app's settings, or set connections.${name}.redirect_uri to use the authorization-code flow`
      : `fix the device flow, or set connections.${name}.redirect_uri (or server.public_url) to use the authorization-code flow`;
  return `connections.${name}: the device flow is not possible (${rt.profile.displayName} answered: ${said}); ${fix}`;
}
