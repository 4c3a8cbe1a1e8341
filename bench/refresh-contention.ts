/**
 * Refresh contention: 8 processes share one SQLite store and hit the
 * same access-token expiry, over many cycles, against oidc-provider with refresh-token
 * rotation. Side by side: 8 google-auth-library OAuth2Client instances given the same refresh
 * token. Reports token-endpoint requests per expiry (target 1) and invalid_grant count (target 0).
 *
 *   npx tsx bench/refresh-contention.ts [cycles=200] [procs=8]
 */
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OAuth2Client } from 'google-auth-library';
import { stringify } from 'yaml';
import { generateKey } from '../src/store/key.js';
import { openWarden, partsOf } from '../src/warden.js';
import { startOidcProvider } from '../test/peers/oidc-provider.js';

const cycles = Number(process.argv[2] ?? 200);
const procs = Number(process.argv[3] ?? 8);
const REDIRECT = 'http://127.0.0.1:1/cb';
const peer = await startOidcProvider({ redirectUris: [REDIRECT], accessTokenTtl: 3600, refreshTokenTtl: 86_400 });
const dir = mkdtempSync(join(tmpdir(), 'tw-bench-contention-'));
const configPath = join(dir, 'tokenwarden.yaml');
process.env['TW_BENCH_KEY'] = generateKey().toString('base64');
writeFileSync(
  configPath,
  stringify({
    store: 'sqlite:state.db',
    key: 'env:TW_BENCH_KEY',
    connections: {
      sandbox: {
        provider: 'oidc',
        issuer: peer.issuer,
        client_id: peer.clientId,
        client_secret: peer.clientSecret,
        redirect_uri: REDIRECT,
        scopes: ['openid', 'offline_access'],
        flow: 'auth_code',
      },
    },
  }),
);

// Authorize once.
const w = await openWarden({ configPath });
const flow = await partsOf(w).flows.open('sandbox');
await partsOf(w).flows.completeFromInput(await peer.approveAuthorization(flow.url), { via: 'bench' });
await w.close();

// ---- tokenwarden: N processes on one store ----
const workers = await Promise.all(
  Array.from({ length: procs }, () => {
    const child = fork(join(import.meta.dirname, 'contention-worker.ts'), [configPath], {
      execArgv: ['--import', 'tsx'],
      stdio: 'inherit',
    });
    return new Promise<typeof child>((res) => child.once('message', () => res(child)));
  }),
);
const ask = (child: (typeof workers)[number], t: number): Promise<{ ok: boolean; error?: string }> =>
  new Promise((res) => {
    child.once('message', (m) => res(m as { ok: boolean; error?: string }));
    child.send({ t });
  });
let t = Date.now();
const twBefore = peer.tokenRequests('refresh_token');
let twFailures = 0;
const perExpiry: number[] = [];
const started = performance.now();
for (let i = 0; i < cycles; i++) {
  t += 3_600_000; // every process is past the same expiry
  const before = peer.tokenRequests('refresh_token');
  const answers = await Promise.all(workers.map((c) => ask(c, t)));
  twFailures += answers.filter((a) => !a.ok).length;
  perExpiry.push(peer.tokenRequests('refresh_token') - before);
}
const twMs = performance.now() - started;
for (const c of workers) c.send('exit');
const twInvalidGrant = peer
  .tokenErrors()
  .filter((e) => e.grantType === 'refresh_token' && e.error === 'invalid_grant').length;
const twRequests = peer.tokenRequests('refresh_token') - twBefore;

// ---- google-auth-library: N OAuth2Client instances, same refresh token ----
async function freshRefreshToken(): Promise<string> {
  const ww = await openWarden({ configPath });
  const f = await partsOf(ww).flows.open('sandbox', { fresh: true });
  await partsOf(ww).flows.completeFromInput(await peer.approveAuthorization(f.url), { via: 'bench' });
  const rt = (await partsOf(ww).store.getConnection('sandbox'))?.refreshToken as string;
  await ww.close();
  return rt;
}
const galCycles = Math.min(cycles, 50);
let galRequestsBefore = peer.tokenRequests('refresh_token');
const errsBefore = peer.tokenErrors().length;
let galCallerFailures = 0;
let grantsLost = 0;
let rt = await freshRefreshToken();
galRequestsBefore = peer.tokenRequests('refresh_token');
for (let i = 0; i < galCycles; i++) {
  const clients = Array.from({ length: procs }, () => {
    const c = new OAuth2Client({
      clientId: peer.clientId,
      clientSecret: peer.clientSecret,
      endpoints: { oauth2TokenUrl: `${peer.issuer}/token` },
    });
    c.setCredentials({ refresh_token: rt, access_token: 'expired', expiry_date: Date.now() - 1000 });
    return c;
  });
  const results = await Promise.allSettled(clients.map((c) => c.getAccessToken()));
  const failed = results.filter((r) => r.status === 'rejected').length;
  galCallerFailures += failed;
  const newRt = clients.map((c) => c.credentials.refresh_token).find((x) => x && x !== rt);
  if (failed > 0 || !newRt) {
    grantsLost++;
    rt = await freshRefreshToken();
    galRequestsBefore -= 0;
  } else rt = newRt;
}
const galRequests = peer.tokenRequests('refresh_token') - galRequestsBefore;
const galInvalid = peer
  .tokenErrors()
  .slice(errsBefore)
  .filter((e) => e.grantType === 'refresh_token' && e.error === 'invalid_grant').length;

const result = {
  tokenwarden: {
    processes: procs,
    cycles,
    refreshRequestsPerExpiry: twRequests / cycles,
    maxPerExpiry: Math.max(...perExpiry),
    invalidGrant: twInvalidGrant,
    callerFailures: twFailures,
    msPerCycle: +(twMs / cycles).toFixed(2),
  },
  googleAuthLibrary: {
    instances: procs,
    cycles: galCycles,
    refreshRequestsPerExpiry: +(galRequests / galCycles).toFixed(2),
    invalidGrant: galInvalid,
    callerFailures: galCallerFailures,
    grantsLost,
  },
};
console.log(JSON.stringify(result, null, 2));
await peer.stop();
rmSync(dir, { recursive: true, force: true });
process.exit(0);
