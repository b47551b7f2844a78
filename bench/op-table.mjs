#!/usr/bin/env node
/**
 * Per-op self time of Chrome traces, side by side: ours (ASDKIT_PROFILE_OPS=<file> on a training
 * epoch) and PyTorch's (bench/reference/bench.py --trace PREFIX). Both profilers record the ATen
 * ops the calling thread runs, so the rows compare like with like.
 *   node bench/op-table.mjs ours.json:3 pytorch-dual.json:2 [--top 30]
 * `file:N` divides that trace's times by its N steps (default 1): the table is ms per step.
 */
import { readFileSync } from 'node:fs';

const args = process.argv.slice(2);
const topAt = args.indexOf('--top');
const top = topAt >= 0 ? Number(args.splice(topAt, 2)[1]) : 30;
if (args.length === 0) {
  console.error('usage: node bench/op-table.mjs trace.json[:steps] … [--top N]');
  process.exit(2);
}

/** ms per step of each op name's self time (its duration less its children's, per thread). */
function selfTimes(file, steps) {
  const events = JSON.parse(readFileSync(file, 'utf8')).filter((e) => e.ph === 'X');
  const byThread = new Map();
  for (const e of events) {
    const k = `${e.pid}/${e.tid}`;
    if (!byThread.has(k)) byThread.set(k, []);
    byThread.get(k).push(e);
  }
  const self = new Map();
  for (const list of byThread.values()) {
    list.sort((a, b) => a.ts - b.ts || b.dur - a.dur);
    const stack = [];
    for (const e of list) {
      while (stack.length && stack.at(-1).ts + stack.at(-1).dur <= e.ts) stack.pop();
      if (stack.length) stack.at(-1).child += e.dur;
      e.child = 0;
      stack.push(e);
    }
    for (const e of list) self.set(e.name, (self.get(e.name) ?? 0) + (e.dur - e.child) / 1000 / steps);
  }
  return self;
}

const tables = args.map((a) => {
  const m = /^(.*?)(?::(\d+))?$/.exec(a);
  return { name: m[1].split('/').at(-1), self: selfTimes(m[1], Number(m[2] ?? 1)) };
});
const names = [...new Set(tables.flatMap((t) => [...t.self.keys()]))];
const total = (t) => [...t.self.values()].reduce((s, x) => s + x, 0);
names.sort((a, b) => Math.max(...tables.map((t) => t.self.get(b) ?? 0)) - Math.max(...tables.map((t) => t.self.get(a) ?? 0)));
const w = 12;
console.log(`${'op (self ms/step)'.padEnd(48)}${tables.map((t) => t.name.slice(-w + 1).padStart(w)).join('')}`);
console.log(`${'total'.padEnd(48)}${tables.map((t) => total(t).toFixed(1).padStart(w)).join('')}`);
for (const n of names.slice(0, top)) console.log(`${n.slice(0, 47).padEnd(48)}${tables.map((t) => (t.self.get(n) ?? 0).toFixed(1).padStart(w)).join('')}`);
