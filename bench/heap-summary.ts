/**
 * What fills a V8 heap snapshot: self size and count by constructor (objects) or by node type
 * (strings, code, arrays…), largest first. Used to find what bench/scale.ts keeps alive.
 *
 *   npx tsx bench/heap-summary.ts /tmp/snaps/mid-run.heapsnapshot [top=25] [group, e.g. array: who retains it]
 */
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

const [file, topArg] = process.argv.slice(2);
if (!file) throw new Error('usage: heap-summary.ts <file.heapsnapshot> [top]');
const top = Number(topArg ?? 25);
const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
const fields = snap.snapshot.meta.node_fields;
const types = snap.snapshot.meta.node_types[0];
const width = fields.length;
const fType = fields.indexOf('type');
const fName = fields.indexOf('name');
const fSize = fields.indexOf('self_size');
const groups = new Map<string, { count: number; bytes: number }>();
let total = 0;
for (let i = 0; i < snap.nodes.length; i += width) {
  const type = types[snap.nodes[i + fType] as number] as string;
  const size = snap.nodes[i + fSize] as number;
  total += size;
  const key =
    type === 'object' || type === 'closure' ? `${type}:${snap.strings[snap.nodes[i + fName] as number]}` : type;
  const g = groups.get(key) ?? { count: 0, bytes: 0 };
  g.count++;
  g.bytes += size;
  groups.set(key, g);
}
console.log(`${file}: ${(total / 2 ** 20).toFixed(1)} MB in ${snap.nodes.length / width} nodes`);
for (const [key, g] of [...groups].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, top))
  console.log(`${(g.bytes / 2 ** 20).toFixed(1).padStart(8)} MB ${String(g.count).padStart(9)}  ${key}`);

// With a third argument (a group such as `array` or `object:Object`): who holds that group's
// nodes, by retainer group and edge name.
const focus = process.argv[4];
if (focus) {
  const edgeFields = (snap.snapshot.meta as unknown as { edge_fields: string[] }).edge_fields;
  const edgeTypes = (snap.snapshot.meta as unknown as { edge_types: [string[]] }).edge_types[0];
  const edges = (snap as unknown as { edges: number[] }).edges;
  const ew = edgeFields.length;
  const fEdgeCount = fields.indexOf('edge_count');
  const groupOf = (i: number): string => {
    const type = types[snap.nodes[i + fType] as number] as string;
    return type === 'object' || type === 'closure' ? `${type}:${snap.strings[snap.nodes[i + fName] as number]}` : type;
  };
  const by = new Map<string, { count: number; bytes: number }>();
  // Each node counts once, for the first retainer met (shared objects are not multiplied).
  const counted = new Set<number>();
  let e = 0;
  for (let i = 0; i < snap.nodes.length; i += width) {
    const from = groupOf(i);
    const n = snap.nodes[i + fEdgeCount] as number;
    for (let k = 0; k < n; k++, e += ew) {
      const to = edges[e + 2] as number;
      if (counted.has(to) || groupOf(to) !== focus) continue;
      counted.add(to);
      const et = edgeTypes[edges[e] as number] as string;
      const nameOrIndex = edges[e + 1] as number;
      const label = et === 'element' || et === 'hidden' ? `[${et}]` : String(snap.strings[nameOrIndex]);
      const key = `${from} --${label}-->`;
      const g = by.get(key) ?? { count: 0, bytes: 0 };
      g.count++;
      g.bytes += snap.nodes[to + fSize] as number;
      by.set(key, g);
    }
  }
  console.log(`--- retainers of ${focus}`);
  for (const [key, g] of [...by].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, top))
    console.log(`${(g.bytes / 2 ** 20).toFixed(1).padStart(8)} MB ${String(g.count).padStart(9)}  ${key}`);
}
