/**
 * What grew between two V8 heap snapshots (bench/run.ts, BENCH_HEAPSNAPSHOT): self size and
 * count by node type and name, largest growth first.  node bench/heap-diff.mjs A.heapsnapshot B.heapsnapshot [rows] [per]
 * `per` divides the growth (e.g. by the number of sockets opened in between).
 */
import fs from 'node:fs';

function summarize(file) {
  const snap = JSON.parse(fs.readFileSync(file, 'utf8'));
  const { node_fields: fields, node_types: [types] } = snap.snapshot.meta;
  const [typeAt, nameAt, sizeAt] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f));
  const sums = new Map();
  for (let i = 0; i < snap.nodes.length; i += fields.length) {
    const type = types[snap.nodes[i + typeAt]];
    const name = type === 'string' || type === 'concatenated string' || type === 'sliced string' ? '(string)' : type === 'code' ? '(code)' : snap.strings[snap.nodes[i + nameAt]];
    const key = `${type} ${String(name).slice(0, 80)}`;
    const s = sums.get(key) ?? { size: 0, count: 0 };
    s.size += snap.nodes[i + sizeAt];
    s.count += 1;
    sums.set(key, s);
  }
  return sums;
}

const [a, b, rows = '40', per = '1'] = process.argv.slice(2);
const before = summarize(a);
const after = summarize(b);
const growth = [...after].map(([k, s]) => [k, s.size - (before.get(k)?.size ?? 0), s.count - (before.get(k)?.count ?? 0)]);
growth.sort((x, y) => y[1] - x[1]);
const total = growth.reduce((t, [, size]) => t + size, 0);
console.log(`total growth ${(total / 1024).toFixed(0)} KiB, ${(total / Number(per)).toFixed(0)} bytes per unit`);
for (const [k, size, count] of growth.slice(0, Number(rows))) console.log(`${String((size / Number(per)).toFixed(0)).padStart(8)} B ${String((count / Number(per)).toFixed(2)).padStart(7)} ×  ${k}`);
