// Which code `tessera` runs: the compiled JavaScript in packages/server/dist
// (built by `npm ci`'s prepare script, scripts/build.mjs) when it was built
// from exactly the sources on disk, else the TypeScript sources through tsx.
//
// "Exactly": the build writes a fingerprint of its inputs (every file under the
// compiled src directories, the two tsconfig files, the lock file and the build script: path, size and mtime)
// into dist/.build-stamp, computed before compiling. At every start the same
// fingerprint is recomputed (about 380 stat calls: 5-25 ms of CPU, less than
// tsx would spend on one file) and compared. Any edit, added or deleted file, git checkout or pull changes
// it, so a developer editing sources never runs stale JavaScript; a failed or
// interrupted build leaves no stamp. Plain Node, no dependencies: it runs
// before anything is compiled.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const SERVER_ROOT = fileURLToPath(new URL('..', import.meta.url)).replace(/[\\/]$/, '');
export const DIST = join(SERVER_ROOT, 'dist');
export const STAMP = join(DIST, '.build-stamp');
/** The compiled CLI: dist/ mirrors packages/ (the server imports packages/gateway and packages/mock-providers for two commands). */
export const BUILT_CLI = join(DIST, 'server', 'src', 'cli.js');

/** What the build compiles and what its output depends on, relative to `packagesDir`. */
export const INPUT_DIRS = ['server/src', 'gateway/src', 'mock-providers/src'];
// The dependencies are bundled too (scripts/build.mjs): a changed lock file (npm install of another version) makes the build stale.
export const INPUT_FILES = ['server/tsconfig.build.json', '../tsconfig.base.json', '../package-lock.json', 'server/scripts/build.mjs'];

/** A hash of every input's path, size and modification time. */
export function fingerprint(packagesDir = join(SERVER_ROOT, '..')) {
  const hash = createHash('sha256');
  // `rel` is the path relative to packagesDir with '/' separators, built along the walk (path.relative per
  // file cost more than the stat calls at every start).
  const add = (path, rel) => {
    const s = statSync(path);
    hash.update(`${rel}\0${s.size}\0${s.mtimeMs}\n`);
  };
  const walk = (dir, rel) => {
    // Sorted, so the hash does not depend on the file system's directory order.
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path, `${rel}/${entry.name}`);
      else if (entry.isFile()) add(path, `${rel}/${entry.name}`);
    }
  };
  for (const d of INPUT_DIRS) if (existsSync(join(packagesDir, d))) walk(join(packagesDir, d), d);
  // INPUT_FILES are written relative to packagesDir with '/' already.
  for (const f of INPUT_FILES) if (existsSync(join(packagesDir, f))) add(join(packagesDir, f), f);
  return hash.digest('hex');
}

/**
 * The compiled CLI's URL when it is up to date, else why not (for the notice).
 * `TESSERA_FROM_SOURCE=1` always chooses the sources (the test suites set it:
 * vitest runs the sources, and so do the processes the tests spawn).
 */
export function chooseEntry({ dist = DIST, packagesDir = join(SERVER_ROOT, '..'), env = process.env } = {}) {
  if (env.TESSERA_FROM_SOURCE === '1') return { source: true, quiet: true };
  const stamp = join(dist, '.build-stamp');
  const cli = join(dist, 'server', 'src', 'cli.js');
  if (!existsSync(stamp) || !existsSync(cli)) return { source: true, reason: 'no build in packages/server/dist' };
  let recorded;
  try {
    recorded = JSON.parse(readFileSync(stamp, 'utf8')).fingerprint;
  } catch {
    return { source: true, reason: 'unreadable build stamp' };
  }
  if (recorded !== fingerprint(packagesDir)) return { source: true, reason: 'the sources changed since the last build' };
  return { source: false, url: pathToFileURL(cli).href };
}
