/**
 * The size rule of docs/architecture.md: no source file over 450 lines and no function (a
 * declaration, method, arrow function or function expression, closures included, measured from its
 * first to its last line) over 80 lines, unless the exception is listed below with its reason.
 * Large units hide several concepts; the rule keeps each one small enough to read in one sitting.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const SRC = join(ROOT, 'src');
const MAX_FILE_LINES = 450;
const MAX_FUNCTION_LINES = 80;

/** `path:name` → why it may be longer. Keep this list short; every entry needs a reason. */
const FUNCTION_EXCEPTIONS: Record<string, string> = {};
/** `path` → why the file may be longer. */
const FILE_EXCEPTIONS: Record<string, string> = {};

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sourceFiles(p));
    else if (/\.tsx?$/.test(name) && !/\.test\.tsx?$/.test(name) && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

function functionName(node: ts.Node): string {
  if ((ts.isFunctionDeclaration(node) || ts.isMethodDeclaration(node) || ts.isFunctionExpression(node)) && node.name)
    return node.name.getText();
  if (ts.isConstructorDeclaration(node)) return 'constructor';
  if ((ts.isGetAccessorDeclaration(node) || ts.isSetAccessorDeclaration(node)) && node.name) return node.name.getText();
  const parent = node.parent;
  if (parent && ts.isVariableDeclaration(parent)) return parent.name.getText();
  if (parent && ts.isPropertyAssignment(parent)) return parent.name.getText();
  if (parent && ts.isPropertyDeclaration(parent)) return parent.name.getText();
  if (parent && ts.isCallExpression(parent)) return `callback of ${parent.expression.getText().slice(0, 40)}`;
  return '(anonymous)';
}

interface Oversize {
  where: string;
  lines: number;
}

function measure(rel: string, text: string): { lines: number; functions: Oversize[] } {
  const sf = ts.createSourceFile(rel, text, ts.ScriptTarget.Latest, true);
  const functions: Oversize[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
      const end = sf.getLineAndCharacterOfPosition(node.getEnd()).line;
      const lines = end - start + 1;
      if (lines > MAX_FUNCTION_LINES) functions.push({ where: `${rel}:${functionName(node)}`, lines });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return { lines: text.split('\n').length, functions };
}

describe('size rule', () => {
  const files = sourceFiles(SRC);
  const results = files.map((f) => {
    const rel = relative(ROOT, f);
    return { rel, ...measure(rel, readFileSync(f, 'utf8')) };
  });

  it('finds the source files', () => {
    expect(files.length).toBeGreaterThan(100);
  });

  it(`has no source file over ${MAX_FILE_LINES} lines`, () => {
    const over = results
      .filter((r) => r.lines > MAX_FILE_LINES && !FILE_EXCEPTIONS[r.rel])
      .map((r) => `${r.rel}: ${r.lines} lines`);
    expect(over).toEqual([]);
  });

  it(`has no function over ${MAX_FUNCTION_LINES} lines`, () => {
    const over = results
      .flatMap((r) => r.functions)
      .filter((f) => !FUNCTION_EXCEPTIONS[f.where])
      .map((f) => `${f.where}: ${f.lines} lines`);
    expect(over).toEqual([]);
  });

  it('lists no exception that no longer applies', () => {
    const oversizedFunctions = new Set(results.flatMap((r) => r.functions.map((f) => f.where)));
    const oversizedFiles = new Set(results.filter((r) => r.lines > MAX_FILE_LINES).map((r) => r.rel));
    expect(Object.keys(FUNCTION_EXCEPTIONS).filter((k) => !oversizedFunctions.has(k))).toEqual([]);
    expect(Object.keys(FILE_EXCEPTIONS).filter((k) => !oversizedFiles.has(k))).toEqual([]);
  });

  it('measures closures and methods (the checker itself works)', () => {
    const body = (n: number): string => Array.from({ length: n }, (_, i) => `    const v${i} = ${i};`).join('\n');
    const text = [
      'export function outer(): () => void {',
      '  const inner = (): void => {',
      body(MAX_FUNCTION_LINES),
      '  };',
      '  return inner;',
      '}',
      'class K {',
      '  small(): number {',
      '    return 1;',
      '  }',
      '}',
    ].join('\n');
    const found = measure('x.ts', text).functions.map((f) => f.where);
    expect(found).toEqual(['x.ts:outer', 'x.ts:inner']);
  });
});
