/**
 * Refresh contention: N processes share one SQLite store and hit the same access-token expiry,
 * cycle after cycle, against a real oidc-provider that rotates refresh tokens and revokes the
 * grant when a rotated one is reused. The peer is the uncoordinated refresh: N google-auth-library
 * `OAuth2Client` instances given the same refresh token (re-authorized whenever the grant is lost).
 *
 * The two run interleaved in blocks (ABBA, ≥ 5 pairs). Per pair the figure is token-endpoint
 * requests per expiry (target 1); invalid_grant answers, caller failures and lost grants are counted.
 * Left out on purpose: the workers' clocks are driven over IPC (so a 1-hour token expires every
 * cycle); everything else — store, lease, rotation, provider — is what the daemon runs.
 *
 *   npx tsx bench/refresh-contention.ts [cycles=100] [procs=8] [pairs=5]
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OAuth2Client } from 'google-auth-library';
import { stringify } from 'yaml';
import { generateKey } from '../src/store/key.js';
import { openWarden, partsOf } from '../src/warden.js';
import { startOidcProvider } from '../test/peers/oidc-provider.js';
import { formatLoad, formatRatio, interleaved } from './lib/pairs.js';
import { writeResult } from './lib/report.js';

const cycles = Number(process.argv[2] ?? 100);
const procs = Number(process.argv[3] ?? 8);
const pairs = Number(process.argv[4] ?? 5);
const perBlock = Math.max(1, Math.round(cycles / pairs));
const REDIRECT = 'http://127.0.0.1:1/cb';
const peer = await startOidcProvider({ redirectUris: [REDIRECT], accessTokenTtl: 3600, refreshTokenTtl: 86_400 });
const dir = mkdtempSync(join(tmpdir(), 'tw-bench-contention-'));
const configPath = join(dir, 'tokenwarden.yaml');
process.env['TW_BENCH_KEY'] = generateKey().toString('base64');
const oidcConnection = {
  provider: 'oidc',
  issuer: peer.issuer,
  client_id: peer.clientId,
  client_secret: peer.clientSecret,
  redirect_uri: REDIRECT,
  scopes: ['openid', 'offline_access'],
  flow: 'auth_code',
};
// `sandbox` is the workers' connection; `peer` only mints fresh grants for google-auth-library.
writeFileSync(
  configPath,
  stringify({
    store: 'sqlite:state.db',
    key: 'env:TW_BENCH_KEY',
    connections: { sandbox: oidcConnection, peer: oidcConnection },
  }),
);

/** A new grant for `conn` (a human approving on the provider's page, done headlessly). */
async function authorize(conn: string): Promise<string> {
  const w = await openWarden({ configPath });
  try {
    const flow = await partsOf(w).flows.open(conn, { fresh: true });
    await partsOf(w).flows.completeFromInput(await peer.approveAuthorization(flow.url), { via: 'bench' });
    return (await partsOf(w).store.getConnection(conn))?.refreshToken as string;
  } finally {
    await w.close();
  }
}
await authorize('sandbox');

const workers: ChildProcess[] = await Promise.all(
  Array.from({ length: procs }, () => {
    const child = fork(join(import.meta.dirname, 'contention-worker.ts'), [configPath], {
      execArgv: ['--import', 'tsx'],
      stdio: 'inherit',
    });
    return new Promise<ChildProcess>((res) => child.once('message', () => res(child)));
  }),
);
const ask = (child: ChildProcess, t: number): Promise<{ ok: boolean; error?: string }> =>
  new Promise((res) => {
    child.once('message', (m) => res(m as { ok: boolean; error?: string }));
    child.send({ t });
  });
const invalidGrants = (): number =>
  peer.tokenErrors().filter((e) => e.grantType === 'refresh_token' && e.error === 'invalid_grant').length;

const tw = { cycles: 0, requests: 0, maxPerExpiry: 0, invalidGrant: 0, failures: 0, ms: 0 };
let clock = Date.now();
/** One block of tokenwarden cycles; returns refresh requests per expiry. */
async function twBlock(): Promise<number> {
  const r0 = peer.tokenRequests('refresh_token');
  const i0 = invalidGrants();
  const t0 = performance.now();
  for (let i = 0; i < perBlock; i++) {
    clock += 3_600_000; // every process is past the same expiry
    const before = peer.tokenRequests('refresh_token');
    const answers = await Promise.all(workers.map((c) => ask(c, clock)));
    tw.failures += answers.filter((a) => !a.ok).length;
    tw.maxPerExpiry = Math.max(tw.maxPerExpiry, peer.tokenRequests('refresh_token') - before);
  }
  tw.ms += performance.now() - t0;
  const requests = peer.tokenRequests('refresh_token') - r0;
  tw.cycles += perBlock;
  tw.requests += requests;
  tw.invalidGrant += invalidGrants() - i0;
  return requests / perBlock;
}

const gal = { cycles: 0, requests: 0, invalidGrant: 0, failures: 0, grantsLost: 0, ms: 0 };
let rt = await authorize('peer');
/** One block of google-auth-library cycles; returns refresh requests per expiry. */
async function galBlock(): Promise<number> {
  let requests = 0;
  let ms = 0;
  for (let i = 0; i < perBlock; i++) {
    const r0 = peer.tokenRequests('refresh_token');
    const i0 = invalidGrants();
    const t0 = performance.now();
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
    ms += performance.now() - t0;
    requests += peer.tokenRequests('refresh_token') - r0;
    gal.invalidGrant += invalidGrants() - i0;
    const failed = results.filter((r) => r.status === 'rejected').length;
    gal.failures += failed;
    const next = clients.map((c) => c.credentials.refresh_token).find((x) => x && x !== rt);
    if (failed > 0 || !next) {
      gal.grantsLost++;
      rt = await authorize('peer'); // not timed: the human's re-authorization
    } else rt = next;
  }
  gal.cycles += perBlock;
  gal.requests += requests;
  gal.ms += ms;
  return requests / perBlock;
}

const s = await interleaved({ a: twBlock, b: galBlock, pairs, warmup: 0 });
for (const c of workers) c.send('exit');
const line = (
  label: string,
  r: { cycles: number; invalidGrant: number; failures: number; ms: number; grantsLost?: number },
  perExpiry: number,
): string =>
  `| ${label} | ${r.cycles} | **${perExpiry.toFixed(2)}** | **${r.invalidGrant}** | ${r.failures} | ${r.grantsLost ?? 0} | ${(r.ms / r.cycles).toFixed(1)} |`;
writeResult(
  'refresh-contention',
  `npx tsx bench/refresh-contention.ts ${cycles} ${procs} ${pairs}`,
  [
    `${procs} \`tokenwarden\` processes (each its own \`openWarden\` on one SQLite file) against ${procs} google-auth-library \`OAuth2Client\` instances given the same refresh token; real oidc-provider with refresh-token rotation (a reused token revokes the grant). ${pairs} interleaved pairs (ABBA) of ${perBlock} expiries per side. Left out on purpose: the workers' clocks are driven over IPC so a 1-hour access token expires every cycle.`,
    '',
    '| | expiries | token-endpoint requests per expiry | invalid_grant | caller failures | grants lost | ms per expiry |',
    '|---|---|---|---|---|---|---|',
    line(`tokenwarden, ${procs} processes (max ${tw.maxPerExpiry} per expiry)`, tw, tw.requests / tw.cycles),
    line(`google-auth-library, ${procs} instances`, gal, gal.requests / gal.cycles),
    '',
    `Requests per expiry, tokenwarden / google-auth-library: **${formatRatio(s)}** (${formatLoad(s)}). "ms per expiry" for google-auth-library leaves out the re-authorization after a lost grant.`,
  ].join('\n'),
  { tokenwarden: tw, googleAuthLibrary: gal, pairs: { ...s, samplesA: s.samplesA, samplesB: s.samplesB } },
);
await peer.stop();
rmSync(dir, { recursive: true, force: true });
process.exit(0);
