/**
 * Reading a large tokenwarden.yaml: `loadConfigFile` (js-yaml, identical connections validated
 * once) side by side with the previous path (the yaml library's document model with its own
 * `uniqueKeys` check, which compares each key with every earlier one, then `parseConfig`).
 *
 *   npx tsx bench/config-load.ts [connections=20000]
 *   npx tsx bench/config-load.ts 100000 --only-now   # just the current path, with its resident memory
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { loadConfigFile, parseConfig } from '../src/config/load.js';

const n = Number(process.argv[2] ?? 20_000);
const dir = mkdtempSync(join(tmpdir(), 'tw-bench-config-'));
const file = join(dir, 'tokenwarden.yaml');
const lines = ['store: sqlite:state.db', 'key: env:TW_KEY', 'connections:'];
for (let i = 0; i < n; i++)
  lines.push(
    `  c${String(i).padStart(6, '0')}:`,
    '    provider: oauth2',
    '    client_id: app',
    '    client_secret: ${APP_SECRET}',
    '    auth_url: https://auth.example.com/authorize',
    '    token_url: https://auth.example.com/token',
    '    scopes: [api]',
  );
const text = lines.join('\n') + '\n';
writeFileSync(file, text);
const env = { APP_SECRET: 's3cret', TW_KEY: 'unused' };

function time(fn: () => { connections: Record<string, unknown> }): { ms: number; connections: number } {
  const t = performance.now();
  const c = fn();
  return { ms: Math.round(performance.now() - t), connections: Object.keys(c.connections).length };
}

try {
  if (process.argv.includes('--only-now')) {
    const ours = time(() => loadConfigFile(file, env).config);
    const rss = process.resourceUsage().maxRSS / 1024;
    console.log(
      `${n} connections, ${(text.length / 2 ** 20).toFixed(1)} MB of YAML: loadConfigFile ${ours.ms} ms, max RSS ${Math.round(rss)} MB`,
    );
    process.exit(0);
  }
  const ours = time(() => loadConfigFile(file, env).config);
  const before = time(() => parseConfig(parseDocument(text, { prettyErrors: true, uniqueKeys: true }).toJS(), env));
  console.table([
    { path: 'loadConfigFile (now)', ...ours },
    { path: 'yaml uniqueKeys (before) + parseConfig', ...before },
  ]);
  console.log(
    `${n} connections, ${(text.length / 2 ** 20).toFixed(1)} MB of YAML: ${(before.ms / ours.ms).toFixed(1)}× faster`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
