/**
 * Dependencies flow one way (docs/architecture.md, "Layers"): faces (cli, server, mcp, demo,
 * proxy) → root (warden.ts, daemon.ts) → actions → engines → store/config → core. The import
 * statements of src/ are parsed (static, type-only and dynamic) and checked: no import cycle,
 * no engine importing a face, the root or an action, nothing but the CLI importing cli/, and
 * no face importing another face except the exceptions below, each with its reason.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cycles, importGraph, violations } from './layers.js';

/** A face importing another face, allowed: `from -> to` → why. */
const FACE_EXCEPTIONS = new Map<string, string>([
  ['cli/mcp -> mcp/server', '`tokenwarden mcp` is the CLI command that runs the MCP face on stdio.'],
  ['cli/demo -> demo/sandbox', '`tokenwarden demo` is the CLI command that starts the demo sandbox.'],
  ['cli/demo -> demo/tour', '`tokenwarden demo` narrates the tour on the terminal.'],
]);

/**
 * Type-only cycles (erased at build, so no load-order hazard) allowed with a reason; a new one
 * fails, a listed one that is gone fails (drop it), and a runtime cycle always fails.
 */
const TYPE_CYCLE_EXCEPTIONS = new Map<string, string>([]);

const SRC = join(import.meta.dirname, '../../src');

describe('layers of src/', () => {
  const edges = importGraph(SRC);

  it('reads the import graph (static, type-only and dynamic imports)', () => {
    expect(edges.length).toBeGreaterThan(300);
    expect(edges).toContainEqual({ from: 'cli/main', to: 'cli/serve', typeOnly: false, dynamic: true });
    expect(edges.some((e) => e.from === 'daemon' && e.to === 'warden' && !e.typeOnly)).toBe(true);
    expect(edges.some((e) => e.typeOnly)).toBe(true);
  });

  it('has no import cycle at run time', () => {
    expect(cycles(edges, { typeOnly: false })).toEqual([]);
  });

  it('has no type-only import cycle beyond the known ones', () => {
    const found = cycles(edges, { typeOnly: true });
    expect(found.filter((c) => !TYPE_CYCLE_EXCEPTIONS.has(c))).toEqual([]);
    expect([...TYPE_CYCLE_EXCEPTIONS.keys()].filter((c) => !found.includes(c))).toEqual([]);
  });

  it('follows the layers: engines import no face, root or action; only the CLI imports cli/; faces do not import faces', () => {
    expect(violations(edges, FACE_EXCEPTIONS)).toEqual([]);
  });

  it('every face exception is still needed', () => {
    const used = new Set(edges.map((e) => `${e.from} -> ${e.to}`));
    expect([...FACE_EXCEPTIONS.keys()].filter((k) => !used.has(k))).toEqual([]);
  });
});

describe('the layering check itself', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const tree = (files: Record<string, string>): string => {
    const dir = mkdtempSync(join(tmpdir(), 'tw-layers-'));
    dirs.push(dir);
    for (const [f, text] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, f)), { recursive: true });
      writeFileSync(join(dir, f), text);
    }
    return dir;
  };

  it('finds what the rules forbid: the library and the demo importing cli/, an engine importing the root, a cycle', () => {
    const edges = importGraph(
      tree({
        'index.ts': "export { startDaemon } from './cli/serve.js';\n",
        'demo/sandbox.ts': "import { startDaemon } from '../cli/serve.js';\n",
        'cli/serve.ts': "import type { Warden } from '../warden.js';\nexport const startDaemon = 1;\n",
        'warden.ts': 'export class Warden {}\n',
        'reauth/orchestrator.ts': "import type { Warden } from '../warden.js';\n",
        'server/app.ts': "import { x } from '../mcp/server.js';\n",
        'mcp/server.ts': 'export const x = 1;\n',
        'keeper/a.ts': "import { b } from './b.js';\nexport const a = 1;\n",
        'keeper/b.ts': "import { a } from './a.js';\nexport const b = a;\n",
      }),
    );
    expect(violations(edges, new Map())).toEqual(
      expect.arrayContaining([
        'index -> cli/serve: only the CLI imports cli/',
        'demo/sandbox -> cli/serve: only the CLI imports cli/',
        'demo/sandbox -> cli/serve: a face imports another face (call the root or an action)',
        'reauth/orchestrator -> warden: an engine imports the root layer',
        'server/app -> mcp/server: a face imports another face (call the root or an action)',
      ]),
    );
    expect(cycles(edges, { typeOnly: false })).toEqual(['keeper/a -> keeper/b -> keeper/a']);
  });

  it('a folder with no layer is named', () => {
    expect(() => violations(importGraph(tree({ 'misc/x.ts': "import '../core/y.js';\n" })), new Map())).toThrow(
      /src\/misc\/x: a folder with no layer/,
    );
  });
});
