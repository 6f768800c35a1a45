#!/usr/bin/env node
// Compares two JSON files of `npm run bench` (bench/speed.ts): every ratio
// of the new run next to the same ratio of the old one, per engine and
// scenario. A report, not a test: the exit status is 0 whatever the figures
// (timings on a shared machine are not pass/fail). Ratios that fell by more
// than BENCH_REGRESSION (default 0.15, i.e. 15 %) are listed at the end under
// "regressions". Ratios are compared, not raw rates: both sides of a ratio
// are measured in the same run, so a slower machine moves both.
//
//   node bench/speed-compare.mjs OLD.json NEW.json
import { existsSync, readFileSync } from 'node:fs';

const [oldPath, newPath] = process.argv.slice(2);
if (!oldPath || !newPath) {
  console.error('usage: node bench/speed-compare.mjs OLD.json NEW.json');
  process.exit(2);
}
const threshold = Number(process.env.BENCH_REGRESSION || 0.15);
if (!existsSync(oldPath)) {
  console.log(`bench compare: no previous run at ${oldPath}; nothing to compare (this run becomes the reference).`);
  process.exit(0);
}
const load = (p) => JSON.parse(readFileSync(p, 'utf8'));
const before = load(oldPath);
const after = load(newPath);
const rowsOf = (run) => new Map(run.results.flatMap((r) => r.rows.map((row) => [`${r.engine} ${row.key}`, { ...row, engine: r.engine }])));
const old = rowsOf(before);
const fresh = rowsOf(after);
const fmt = (n) => (typeof n === 'number' && Number.isFinite(n) ? n.toFixed(2) : '–');

console.log(`bench compare: ${before.commit} (${before.at}) → ${after.commit} (${after.at})`);
console.log('| engine | scenario | old ratio | new ratio | change |');
console.log('|---|---|---|---|---|');
const regressions = [];
for (const [key, row] of fresh) {
  const prev = old.get(key);
  const change = prev && prev.ratio > 0 ? row.ratio / prev.ratio - 1 : null;
  console.log(`| ${row.engine} | ${row.name} | ${fmt(prev?.ratio)} | ${fmt(row.ratio)} | ${change === null ? 'new' : `${change >= 0 ? '+' : ''}${(change * 100).toFixed(0)} %`} |`);
  if (change !== null && change < -threshold) regressions.push(`${row.engine} ${row.name}: ${fmt(prev.ratio)} → ${fmt(row.ratio)} (${(change * 100).toFixed(0)} %)`);
}
for (const key of old.keys()) if (!fresh.has(key)) console.log(`| ${key} | (gone from the new run) | | | |`);
if (regressions.length) {
  console.log(`\nregressions over ${Math.round(threshold * 100)} %:`);
  for (const r of regressions) console.log(`  ${r}`);
} else {
  console.log(`\nno ratio fell by more than ${Math.round(threshold * 100)} %.`);
}
