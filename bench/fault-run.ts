/**
 * Fault injection, shared by bench/fault-injection.ts and
 * test/stress/fault-injection.test.ts: the fault proxy (test/peers/fault-proxy.ts) sits between
 * tokenwarden's token requests and a real oidc-provider with rotation. For each fault mode a
 * fresh warden is authorized, the fault is switched on for `faultMs` of simulated time while a
 * caller asks for a token every `stepMs`, then the fault clears and the time to a healthy
 * refresh is measured.
 *
 * Counted per mode: false reauth_required transitions (events and errors), expired tokens
 * served (a token returned after its expiry), token requests sent before a Retry-After had
 * passed, token requests during the fault, and recovery time (simulated) after it clears.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeClock } from '../src/core/clock.js';
import { ReauthRequiredError, TransientError } from '../src/core/errors.js';
import { parseRetryAfter } from '../src/oauth/translate-error.js';
import { generateKey } from '../src/store/key.js';
import { openWarden, partsOf } from '../src/warden.js';
import { startFaultProxy, type FaultMode, type FaultOptions } from '../test/peers/fault-proxy.js';
import { startOidcProvider } from '../test/peers/oidc-provider.js';

export interface FaultCase {
  mode: FaultMode;
  opts?: FaultOptions;
}

export interface FaultResult {
  mode: string;
  falseReauthRequired: number;
  expiredTokensServed: number;
  tokensServed: number;
  unavailableAnswers: number;
  requestsDuringFault: number;
  retryAfterViolations: number;
  recoveryMs: number | null;
  finalState: string | null;
}

export const ALL_FAULTS: FaultCase[] = [
  { mode: 'http500' },
  { mode: 'http503', opts: { retryAfterSeconds: 90 } },
  { mode: 'http429', opts: { retryAfterSeconds: 120 } },
  { mode: 'http429', opts: { retryAfter: 'HTTP-DATE' } },
  { mode: 'timeout' },
  { mode: 'reset' },
  { mode: 'html' },
  { mode: 'malformed_json' },
  { mode: 'slow', opts: { delayMs: 300 } },
];

const REDIRECT = 'http://127.0.0.1:1/oauth/callback';

export async function runFaults(
  cases: FaultCase[],
  o: { faultMs?: number; stepMs?: number; requestTimeoutMs?: number } = {},
): Promise<FaultResult[]> {
  const faultMs = o.faultMs ?? 10 * 60_000;
  const stepMs = o.stepMs ?? 5_000;
  const timeoutMs = o.requestTimeoutMs ?? 400;
  const peer = await startOidcProvider({ redirectUris: [REDIRECT], accessTokenTtl: 120, refreshTokenTtl: 86_400 });
  const proxy = await startFaultProxy(peer.issuer);
  const dir = mkdtempSync(join(tmpdir(), 'tw-fault-'));
  const env = { TW_KEY: generateKey().toString('base64') };
  const results: FaultResult[] = [];
  try {
    for (const [i, c] of cases.entries()) {
      proxy.setMode('pass');
      const clock = new FakeClock(Date.now());
      // Every token request, in simulated time, with what came back.
      const log: Array<{ at: number; status: number | null; retryAfterMs: number | undefined }> = [];
      const fetchVia: typeof fetch = async (url, init) => {
        const signal = init?.signal
          ? AbortSignal.any([init.signal, AbortSignal.timeout(timeoutMs)])
          : AbortSignal.timeout(timeoutMs);
        const at = clock.now();
        const isToken = String(url).includes('/token');
        try {
          const res = await fetch(url, { ...init, signal });
          if (isToken)
            log.push({ at, status: res.status, retryAfterMs: parseRetryAfter(res.headers.get('retry-after'), at) });
          return res;
        } catch (e) {
          if (isToken) log.push({ at, status: null, retryAfterMs: undefined });
          throw e;
        }
      };
      const w = await openWarden({
        config: {
          store: `sqlite:fault-${i}.db`,
          key: 'env:TW_KEY',
          connections: {
            sandbox: {
              provider: 'oidc',
              issuer: peer.issuer,
              client_id: peer.clientId,
              client_secret: peer.clientSecret,
              redirect_uri: REDIRECT,
              scopes: ['openid', 'offline_access'],
              flow: 'auth_code',
              token_url: `${proxy.url}/token`,
            },
          },
        },
        baseDir: dir,
        env,
        clock,
        fetch: fetchVia,
      });
      try {
        const flow = await partsOf(w).flows.open('sandbox');
        await partsOf(w).flows.completeFromInput(await peer.approveAuthorization(flow.url), { via: 'fault-bench' });
        await w.accessToken('sandbox');
        const r: FaultResult = {
          mode:
            c.mode +
            (c.opts?.retryAfter
              ? ' (Retry-After date)'
              : c.opts?.retryAfterSeconds
                ? ` (Retry-After ${c.opts.retryAfterSeconds}s)`
                : ''),
          falseReauthRequired: 0,
          expiredTokensServed: 0,
          tokensServed: 0,
          unavailableAnswers: 0,
          requestsDuringFault: 0,
          retryAfterViolations: 0,
          recoveryMs: null,
          finalState: null,
        };
        const opts =
          c.opts?.retryAfter === 'HTTP-DATE'
            ? { retryAfter: new Date(clock.now() + 150_000).toUTCString() }
            : (c.opts ?? {});
        // Fault on while the token is still fresh: the first failure happens inside the refresh margin.
        const faultStart = clock.now();
        proxy.setMode(c.mode, opts);
        const ask = async (): Promise<void> => {
          try {
            const info = await w.tokenInfo('sandbox');
            r.tokensServed++;
            if (info.expiresAt !== null && info.expiresAt <= clock.now()) r.expiredTokensServed++;
          } catch (e) {
            if (e instanceof ReauthRequiredError) r.falseReauthRequired++;
            else if (e instanceof TransientError) r.unavailableAnswers++;
            else throw e;
          }
        };
        while (clock.now() - faultStart < faultMs) {
          await clock.advance(stepMs);
          await ask();
        }
        const during = log.filter((l) => l.at >= faultStart);
        r.requestsDuringFault = during.length;
        // A request is a violation if an earlier answer's Retry-After had not yet passed.
        let notBefore = 0;
        for (const l of during) {
          if (l.at < notBefore) r.retryAfterViolations++;
          if (l.retryAfterMs !== undefined) notBefore = Math.max(notBefore, l.at + l.retryAfterMs);
        }
        proxy.setMode('pass');
        const cleared = clock.now();
        while (clock.now() - cleared < 15 * 60_000) {
          await clock.advance(1_000);
          await ask();
          const row = await partsOf(w).store.getConnection('sandbox');
          if (row?.state === 'healthy' && (row.lastRefreshAt ?? 0) >= cleared) {
            r.recoveryMs = clock.now() - cleared;
            break;
          }
        }
        const events = await partsOf(w).store.listEvents({ connection: 'sandbox', limit: 1000 });
        r.falseReauthRequired += events.filter((e) => e.type === 'reauth_required').length;
        r.finalState = (await partsOf(w).store.getConnection('sandbox'))?.state ?? null;
        results.push(r);
      } finally {
        await w.close();
      }
    }
    return results;
  } finally {
    proxy.setMode('pass');
    await proxy.stop();
    await peer.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
