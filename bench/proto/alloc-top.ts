/**
 * Prototype: the top allocation sites of a .heapprofile (bench/proto/alloc-prof.ts), by self
 * bytes, as function (file:line) and the two callers above it.
 *   node bench/proto/alloc-top.ts FILE [top=30] [divide-by=1]
 */
import { readFileSync } from 'node:fs';

interface Node { callFrame: { functionName: string; url: string; lineNumber: number }; selfSize: number; children: Node[] }
const prof = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as { head: Node };
const top = Number(process.argv[3] ?? 30);
const per = Number(process.argv[4] ?? 1);
const sites = new Map<string, number>();
let total = 0;
const name = (n: Node) => `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.replace(/^.*\/(src|node_modules)\//, '$1/')}:${n.callFrame.lineNumber + 1}`;
const walk = (n: Node, stack: Node[]) => {
  if (n.selfSize > 0) {
    const key = [n, ...stack.slice(-2).reverse()].map(name).join(' < ');
    sites.set(key, (sites.get(key) ?? 0) + n.selfSize);
    total += n.selfSize;
  }
  for (const c of n.children) walk(c, [...stack, n]);
};
walk(prof.head, []);
console.log(`total ${(total / 1024 / per).toFixed(1)} KiB${per > 1 ? ' per lookup' : ''}`);
for (const [k, v] of [...sites].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${(v / 1024 / per).toFixed(1).padStart(8)} KiB  ${(100 * v / total).toFixed(1).padStart(5)} %  ${k}`);
