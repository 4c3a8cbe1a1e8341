/**
 * The import graph of src/ and the layering rules it must follow (docs/architecture.md,
 * "Layers"): used by layers.test.ts, and runnable against any source tree.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

export interface ImportEdge {
  from: string;
  to: string;
  /** `import type` / `export type` (or every named binding type-only): erased at build. */
  typeOnly: boolean;
  /** `import('…')`: loaded when it runs, not when the module loads. */
  dynamic: boolean;
}

export const FACES = ['cli', 'server', 'mcp', 'demo', 'proxy'] as const;
export const ENGINES = [
  'keeper',
  'reauth',
  'mail',
  'channels',
  'oauth',
  'providers',
  'integrations',
  'store',
  'config',
  'core',
] as const;

export type Layer = 'face' | 'root' | 'actions' | 'engine';

/** `cli/main` → its top folder; `warden`, `daemon`, `daemon/lease`, `index` are the root. */
export function layerOf(module: string): Layer {
  const top = module.split('/')[0] ?? module;
  if ((FACES as readonly string[]).includes(top)) return 'face';
  if (top === 'actions') return 'actions';
  if (top === 'warden' || top === 'daemon' || top === 'index') return 'root';
  if ((ENGINES as readonly string[]).includes(top)) return 'engine';
  throw new Error(`src/${module}: a folder with no layer; add it to test/hygiene/layers.ts and docs/architecture.md`);
}

export const topOf = (module: string): string => module.split('/')[0] ?? module;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return sourceFiles(p);
    return /\.tsx?$/.test(f) && !/\.test\.tsx?$/.test(f) && !f.endsWith('.d.ts') ? [p] : [];
  });
}

/** Every relative import of every module under `srcDir` (modules named without extension). */
export function importGraph(srcDir: string): ImportEdge[] {
  const root = resolve(srcDir);
  const name = (file: string): string => relative(root, file).replace(/\.(tsx?|jsx?)$/, '');
  const edges: ImportEdge[] = [];
  for (const file of sourceFiles(root)) {
    const text = readFileSync(file, 'utf8');
    const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TSX);
    const add = (spec: string, typeOnly: boolean, dynamic: boolean): void => {
      if (!spec.startsWith('.')) return;
      edges.push({ from: name(file), to: name(resolve(dirname(file), spec)), typeOnly, dynamic });
    };
    const visit = (node: ts.Node): void => {
      if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
        const c = node.importClause;
        const named = c?.namedBindings && ts.isNamedImports(c.namedBindings) ? c.namedBindings.elements : undefined;
        const typeOnly =
          c !== undefined &&
          (c.isTypeOnly || (!c.name && named !== undefined && named.length > 0 && named.every((e) => e.isTypeOnly)));
        add(node.moduleSpecifier.text, typeOnly, false);
      } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
        const named =
          node.exportClause && ts.isNamedExports(node.exportClause) ? node.exportClause.elements : undefined;
        add(
          node.moduleSpecifier.text,
          node.isTypeOnly || (named !== undefined && named.length > 0 && named.every((e) => e.isTypeOnly)),
          false,
        );
      } else if (
        ts.isCallExpression(node) &&
        node.expression.kind === ts.SyntaxKind.ImportKeyword &&
        node.arguments[0] &&
        ts.isStringLiteral(node.arguments[0])
      ) {
        add(node.arguments[0].text, false, true);
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return edges;
}

/** Every elementary cycle found by a depth-first walk over static imports, as `a -> b -> a`. */
export function cycles(edges: ImportEdge[], opts: { typeOnly: boolean }): string[] {
  const next = new Map<string, string[]>();
  for (const e of edges) {
    if (e.dynamic || (e.typeOnly && !opts.typeOnly)) continue;
    next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
  }
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  const found: string[] = [];
  const walk = (n: string): void => {
    state.set(n, 1);
    stack.push(n);
    for (const m of next.get(n) ?? []) {
      if (state.get(m) === 1) found.push([...stack.slice(stack.indexOf(m)), m].join(' -> '));
      else if (!state.has(m)) walk(m);
    }
    stack.pop();
    state.set(n, 2);
  };
  for (const n of [...next.keys()].sort()) if (!state.has(n)) walk(n);
  return found;
}

/** The layering rules; each violation as `from -> to: why`. */
export function violations(edges: ImportEdge[], allowedFaceImports: ReadonlyMap<string, string>): string[] {
  const out: string[] = [];
  for (const e of edges) {
    const [a, b] = [layerOf(e.from), layerOf(e.to)];
    const edge = `${e.from} -> ${e.to}`;
    if (topOf(e.to) === 'cli' && topOf(e.from) !== 'cli') out.push(`${edge}: only the CLI imports cli/`);
    if (a === 'engine' && b !== 'engine') out.push(`${edge}: an engine imports the ${b} layer`);
    if (a === 'actions' && (b === 'face' || b === 'root')) out.push(`${edge}: an action imports the ${b} layer`);
    if (a === 'face' && b === 'face' && topOf(e.from) !== topOf(e.to) && !allowedFaceImports.has(edge))
      out.push(`${edge}: a face imports another face (call the root or an action)`);
  }
  return out;
}
