#!/usr/bin/env node
// Builds the admin console (vite build → packages/console/dist) only when its
// sources changed since the last build: a hash of the inputs is kept in
// dist/.source-hash. Plain Node, no dependencies, so it runs before anything
// else (`npm start`'s prestart, the browser tests' globalSetup).
//
//   node packages/console/scripts/ensure-built.js [--force] [--strict]
//
// --force   build even when the hash matches
// --strict  fail when there is nothing to build with (no Vite, no index.html);
//           without it that is a warning, and the server answers /admin with 503
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const CONSOLE_ROOT = fileURLToPath(new URL('..', import.meta.url)).replace(/[\\/]$/, '');
const REPO_ROOT = join(CONSOLE_ROOT, '..', '..');
const DIST = join(CONSOLE_ROOT, 'dist');
const HASH_FILE = join(DIST, '.source-hash');

/** What the build reads: files at the top, then whole directories. */
const INPUT_FILES = ['index.html', 'vite.config.ts', 'vite.config.js', 'package.json', 'tsconfig.json'];
const INPUT_DIRS = ['src', 'public'];

const log = (msg) => console.log(`console: ${msg}`);

/** Every input file (relative, '/'-separated, sorted) so the hash does not depend on directory order or OS. */
function inputFiles() {
  const files = INPUT_FILES.filter((f) => existsSync(join(CONSOLE_ROOT, f)));
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) files.push(relative(CONSOLE_ROOT, path).split(sep).join('/'));
    }
  };
  for (const d of INPUT_DIRS) if (existsSync(join(CONSOLE_ROOT, d))) walk(join(CONSOLE_ROOT, d));
  return files.sort();
}

/** The installed version of a package (as resolved from the console), or 'missing'. */
function installedVersion(name) {
  for (const base of [join(CONSOLE_ROOT, 'node_modules'), join(REPO_ROOT, 'node_modules')]) {
    try {
      return JSON.parse(readFileSync(join(base, name, 'package.json'), 'utf8')).version;
    } catch {
      // not installed here
    }
  }
  return 'missing';
}

/**
 * The inputs' hash: every source file's path and content, plus the installed
 * versions of the console's dependencies (a new Vite or Preact from `npm ci`
 * changes the output even when no source did).
 */
export function sourceHash() {
  const hash = createHash('sha256');
  for (const file of inputFiles()) {
    hash.update(`${file}\0`);
    hash.update(readFileSync(join(CONSOLE_ROOT, file)));
    hash.update('\0');
  }
  const pkg = JSON.parse(readFileSync(join(CONSOLE_ROOT, 'package.json'), 'utf8'));
  const deps = Object.keys({ ...pkg.dependencies, ...pkg.devDependencies }).sort();
  for (const name of deps) hash.update(`dep:${name}@${installedVersion(name)}\0`);
  return hash.digest('hex');
}

function viteBin() {
  for (const base of [join(CONSOLE_ROOT, 'node_modules'), join(REPO_ROOT, 'node_modules')]) {
    const bin = join(base, 'vite', 'bin', 'vite.js');
    if (existsSync(bin)) return bin;
  }
  return undefined;
}

function isBuilt(hash) {
  try {
    return existsSync(join(DIST, 'index.html')) && readFileSync(HASH_FILE, 'utf8').trim() === hash;
  } catch {
    return false;
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

/**
 * One build at a time per checkout (two test runs, or a test run and
 * `npm start`, would otherwise write the same dist/ at once). The lock file
 * holds the builder's pid; a lock whose process is gone is taken over.
 */
async function withLock(fn) {
  const lock = join(tmpdir(), `tessera-console-build-${createHash('sha256').update(CONSOLE_ROOT).digest('hex').slice(0, 16)}.lock`);
  const deadline = Date.now() + 10 * 60_000;
  let told = false;
  for (;;) {
    try {
      const fd = openSync(lock, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
    }
    let pid = NaN;
    let age = 0;
    try {
      pid = Number(readFileSync(lock, 'utf8'));
      age = Date.now() - statSync(lock).mtimeMs;
    } catch {
      continue; // released meanwhile
    }
    // An empty lock is one being written right now, unless it has been empty for a while.
    if ((pid && !alive(pid)) || (!pid && age > 5_000)) {
      rmSync(lock, { force: true });
      continue;
    }
    if (Date.now() > deadline) throw new Error(`another build (pid ${pid}) holds ${lock} for more than 10 minutes`);
    if (!told) log(`waiting for another build (pid ${pid})`);
    told = true;
    await sleep(250);
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { force: true });
  }
}

function run(bin, args, cwd) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd, stdio: 'inherit' });
    child.on('error', reject);
    child.on('exit', (code, signal) => (code === 0 ? resolve() : reject(new Error(`vite build failed (${signal ?? `exit ${code}`})`))));
  });
}

/**
 * Builds packages/console/dist when its sources changed (or it is missing).
 * @returns 'built' | 'up-to-date' | 'skipped' (nothing to build with, not strict)
 * @throws when the build fails, or in strict mode when it cannot run
 */
export async function ensureConsoleBuilt({ force = false, strict = false } = {}) {
  const cannot = (why) => {
    if (strict) throw new Error(`cannot build the admin console: ${why}`);
    log(`not built: ${why}; /admin answers 503 until \`npm run build:console\` succeeds`);
    return 'skipped';
  };
  if (!existsSync(join(CONSOLE_ROOT, 'index.html'))) return cannot(`${join(CONSOLE_ROOT, 'index.html')} is missing`);
  return withLock(async () => {
    const hash = sourceHash();
    if (!force && isBuilt(hash)) {
      log('up to date');
      return 'up-to-date';
    }
    const bin = viteBin();
    if (!bin) {
      if (existsSync(join(DIST, 'index.html'))) {
        log('Vite is not installed (npm ci --omit=dev?): serving the existing, possibly stale, build');
        return 'skipped';
      }
      return cannot('Vite is not installed (run npm ci)');
    }
    log(force ? 'building (forced)' : 'sources changed: building');
    await run(bin, ['build'], CONSOLE_ROOT);
    if (!existsSync(join(DIST, 'index.html'))) throw new Error(`vite build wrote no ${join(DIST, 'index.html')} (check outDir in vite.config.ts)`);
    writeFileSync(HASH_FILE, `${hash}\n`);
    log(`built into ${relative(process.cwd(), DIST) || DIST}`);
    return 'built';
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = new Set(process.argv.slice(2));
  ensureConsoleBuilt({ force: args.has('--force'), strict: args.has('--strict') }).catch((err) => {
    console.error(`console: ${err.message}`);
    process.exit(1);
  });
}
