#!/usr/bin/env node
// `npm run build` and `npm ci`'s prepare script: compiles the server (and the
// gateway and mock providers it can load) to packages/server/dist with tsc,
// copies the non-TypeScript files those sources read next to themselves
// (e.g. mfa/passkeys/browser.js), then writes dist/.build-stamp with the
// fingerprint of the inputs taken *before* compiling: a file edited during the
// build makes the stamp stale rather than wrong (bin/launch.js).
//
//   node packages/server/scripts/build.mjs [--soft]
//
// --soft (prepare): a failed build is a warning, not a failed `npm ci`; without
// a stamp `npm start` runs the sources through tsx, as before this existed.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { DIST, INPUT_DIRS, SERVER_ROOT, STAMP, fingerprint } from '../bin/launch.js';

const soft = process.argv.includes('--soft');
const packagesDir = join(SERVER_ROOT, '..');
const started = performance.now();

function fail(message) {
  console.error(`build: ${message}`);
  if (soft) {
    console.error('build: `npm start` will run the TypeScript sources through tsx instead (slower start); `npm run build` retries');
    process.exit(0);
  }
  process.exit(1);
}

const before = fingerprint(packagesDir);
rmSync(STAMP, { force: true });
let tsc;
try {
  tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
} catch {
  fail('typescript is not installed (npm ci installs it)');
}
const r = spawnSync(process.execPath, [tsc, '-p', join(SERVER_ROOT, 'tsconfig.build.json')], { stdio: 'inherit' });
if (r.status !== 0) fail(`tsc failed (exit ${r.status ?? r.signal})`);

// Files other than TypeScript that the sources read relative to themselves.
let copied = 0;
const copy = (dir, rel) => {
  for (const entry of readdirSync(join(packagesDir, dir, rel), { withFileTypes: true })) {
    const sub = join(rel, entry.name);
    if (entry.isDirectory()) copy(dir, sub);
    else if (entry.isFile() && !entry.name.endsWith('.ts')) {
      const target = join(DIST, dir, sub);
      mkdirSync(dirname(target), { recursive: true });
      copyFileSync(join(packagesDir, dir, sub), target);
      copied++;
    }
  }
};
for (const d of INPUT_DIRS) if (existsSync(join(packagesDir, d))) copy(d, '');

writeFileSync(STAMP, JSON.stringify({ fingerprint: before, builtAt: new Date().toISOString(), node: process.version }) + '\n');
console.log(`build: packages/server/dist up to date (${((performance.now() - started) / 1000).toFixed(1)} s, ${copied} asset file(s) copied)`);
