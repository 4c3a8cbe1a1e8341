/**
 * Run a benchmark's measuring process on plain `node`, not under tsx: tsx's module hooks run in
 * a second V8 isolate (~30 MB resident) that the daemon, which runs the compiled JavaScript,
 * does not have. The entry is bundled with esbuild (tokenwarden's sources inlined, packages
 * left to node_modules) and re-executed; the re-executed copy sees `TW_PLAIN_NODE=1`.
 *
 *   if (await reexecOnPlainNode(import.meta.url)) process.exit(process.exitCode ?? 0);
 *
 * Node flags for the measuring process (e.g. `--trace-gc`) go in `TW_BENCH_NODE_FLAGS`.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/** Directory of the benchmark sources, also inside the bundled copy. */
export function benchDir(): string {
  return process.env['TW_BENCH_DIR'] ?? dirname(fileURLToPath(import.meta.url));
}

/**
 * In the tsx process: bundle `entryUrl`, run it on plain node with the same arguments, wait,
 * set `process.exitCode` and return true. In the re-executed copy (or with `--tsx` among the
 * arguments): return false, so the caller just goes on.
 */
export async function reexecOnPlainNode(entryUrl: string): Promise<boolean> {
  if (process.env['TW_PLAIN_NODE'] === '1' || process.argv.includes('--tsx')) return false;
  const entry = fileURLToPath(entryUrl);
  const root = dirname(dirname(entry));
  // Inside the repository, so the bundle resolves packages from its node_modules.
  const outDir = join(root, 'node_modules', '.cache', 'tokenwarden-bench');
  mkdirSync(outDir, { recursive: true });
  const outfile = join(outDir, basename(entry).replace(/\.ts$/, '.mjs'));
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    logLevel: 'warning',
  });
  const child = spawnSync(
    process.execPath,
    [...(process.env['TW_BENCH_NODE_FLAGS']?.split(' ').filter(Boolean) ?? []), outfile, ...process.argv.slice(2)],
    {
      stdio: 'inherit',
      env: { ...process.env, TW_PLAIN_NODE: '1', TW_BENCH_DIR: dirname(entry) },
    },
  );
  process.exitCode = child.status ?? 1;
  return true;
}
