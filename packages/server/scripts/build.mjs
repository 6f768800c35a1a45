#!/usr/bin/env node
// `npm run build` and `npm ci`'s prepare script: type-checks the server with
// tsc (tsconfig.build.json), bundles it (and the gateway and mock providers it
// can load, and its dependencies) with esbuild into packages/server/dist/server/src,
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
import { copyFileSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
// Type-checked with the build's own settings (no DOM types, unlike the editor's
// tsconfig), so what ships compiles; the JavaScript itself comes from esbuild below.
const r = spawnSync(process.execPath, [tsc, '-p', join(SERVER_ROOT, 'tsconfig.build.json')], { stdio: 'inherit' });
if (r.status !== 0) fail(`tsc failed (exit ${r.status ?? r.signal})`);

// One bundle of the server and its dependencies (issue 20, docs/performance.md#compiled-javascript):
// resolving, reading and linking ~1 450 module files was about half of every start. Dynamic
// imports stay chunks of their own (`splitting`), so what loads on first use (startup/lazy.ts)
// still does. Left out: native addons, packages loaded with `requireOnUse` (the database
// drivers), packages that start workers from files next to their own (pino's transports), and
// ioredis, which refers to its own `__dirname` (undefined in an ES module).
const OUT = join(DIST, 'server', 'src');
// zod's namespace re-exports its error messages in 60-odd languages (`z.locales`), about 300 KB
// of the 600 KB of zod every start parses and keeps in memory, some in scripts that make V8 hold
// the whole chunk's text two bytes per character. Tessera writes its own messages and only ever
// uses zod's English default (what `classic/schemas.js` installs), so `z.locales` is `{ en }`
// in the bundle (docs/performance.md, "Start-up").
// Fastify requires Ajv and its serializer compiler only when no compilers are given; Tessera gives
// its own (http/server.ts: it validates with zod), so about 410 KB of code would only be parsed.
const noFastifyCompilers = {
  name: 'no-fastify-compilers',
  setup(build) {
    build.onResolve({ filter: /^@fastify\/(ajv-compiler|fast-json-stringify-compiler)$/ }, (args) => ({ path: args.path, namespace: 'no-fastify-compilers' }));
    build.onLoad({ filter: /.*/, namespace: 'no-fastify-compilers' }, (args) => ({
      contents: `module.exports = () => { throw new Error(${JSON.stringify(`${args.path} is not in Tessera's build: Fastify route schemas are not used`)}); };\n`, loader: 'js',
    }));
  },
};
// koa's `accepts` pins mime-types 2 with its own copy of mime-db (1.52); one copy (the newer, same
// format) is enough: each is a 140 KB object literal evaluated at start.
const oneMimeDb = {
  name: 'one-mime-db',
  setup(build) {
    const top = createRequire(join(SERVER_ROOT, 'package.json')).resolve('mime-db');
    build.onResolve({ filter: /^mime-db$/ }, () => ({ path: top }));
  },
};
// prom-client requires the OpenTelemetry API at load for exemplars (trace ids on samples), which
// Tessera does not enable: an object that says so if anything ever reads it, instead of 44 KB.
const noOpenTelemetry = {
  name: 'no-opentelemetry',
  setup(build) {
    build.onResolve({ filter: /^@opentelemetry\/api$/ }, (args) => ({ path: args.path, namespace: 'no-opentelemetry' }));
    build.onLoad({ filter: /.*/, namespace: 'no-opentelemetry' }, () => ({
      contents: "module.exports = new Proxy({}, { get(_t, name) { throw new Error(`@opentelemetry/api is not in Tessera's build (prom-client exemplars are off): ${String(name)}`); } });\n",
      loader: 'js',
    }));
  },
};
const zodEnglishOnly = {
  name: 'zod-english-only',
  setup(build) {
    build.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) => (/[\\/]node_modules[\\/]zod[\\/]/.test(args.importer)
      ? { path: join(dirname(args.importer), '..', 'locales', 'index.js'), namespace: 'zod-english-only' }
      : undefined));
    build.onLoad({ filter: /.*/, namespace: 'zod-english-only' }, (args) => ({
      contents: "export { default as en } from './en.js';\n", resolveDir: dirname(args.path), loader: 'js',
    }));
  },
};
// Rewrites of oidc-provider's sources in the bundle, each the same behaviour at lower cost. Each
// names the lines it expects and how many; the build stops when a new oidc-provider version
// changes them (update the table then). test/build.test.ts checks the bundle and asks the bundled
// server for the answers these lines give.
const ENGINE_REWRITES = [
  {
    // Two Intl.ListFormat objects made at load, for error messages that list values ("'a' and 'b'
    // parameters must not be provided twice"); the first brings ICU's list-pattern data, about
    // 6 MiB resident from the start on. Each is made when it first formats instead.
    file: 'helpers/formatters.js',
    lines: /^const (conjunction|disjunction) = new Intl\.ListFormat\('en', \{ type: '(conjunction|disjunction)' \}\);$/gm,
    count: 2,
    replace: (_, name, type) => `let ${name}Made; const ${name} = { format: (list) => (${name}Made ??= new Intl.ListFormat('en', { type: '${type}' })).format(list) };`,
  },
  ...['shared/access_token.js', 'helpers/validate_dpop.js'].map((file, i) => ({
    // UserInfo's middlewares (and DPoP's replay check) write `ctx.assert(found, new
    // InvalidToken('…'))`: the error, its stack trace captured twice (Error's constructor and
    // InvalidToken's captureStackTrace), is made on every request, found or not; three per
    // UserInfo request cost about 60 µs of ~500 (CPU profile, issue 20). Koa's `ctx.assert`
    // (http-assert) throws its second argument when the first is falsy and does nothing
    // otherwise, so `if (!found) ctx.assert(found, new …)` throws the same error in the same case.
    // Only assertions on a plain variable (read twice, without effect).
    file,
    lines: /^(\s*)ctx\.assert\((\w+), (new \w+\('[^'\n]*'\))\);$/gm,
    count: [3, 1][i],
    replace: (_, indent, value, error) => `${indent}if (!${value}) ctx.assert(${value}, ${error});`,
  })),
  {
    // Introspection and revocation refuse JWTs by trying to decode the token's JOSE header; an
    // opaque token (Tessera's) makes jose throw, and the error's stack trace cost ~30 µs per
    // request (CPU profile, issue 20). A compact JWS or JWE has 2 or 4 dots, and jose's
    // decodeProtectedHeader throws for a string of any other shape, so a string with no dot
    // skips the attempt: the same outcome.
    file: 'shared/reject_structured_tokens.js',
    lines: /^(\s*)tokenIsJWT = !!decodeProtectedHeader\(params\.token\);$/gm,
    count: 1,
    replace: (_, indent) => `${indent}tokenIsJWT = typeof params.token === 'string' && !params.token.includes('.') ? false : !!decodeProtectedHeader(params.token);`,
  },
];
const engineRewrites = {
  name: 'engine-rewrites',
  setup(build) {
    build.onLoad({ filter: /[\\/]oidc-provider[\\/]lib[\\/].*\.js$/ }, (args) => {
      const path = args.path.replaceAll('\\', '/');
      const rewrites = ENGINE_REWRITES.filter((r) => path.endsWith(`/oidc-provider/lib/${r.file}`));
      if (!rewrites.length) return undefined;
      let source = readFileSync(args.path, 'utf8');
      for (const r of rewrites) {
        if ((source.match(r.lines) ?? []).length !== r.count) fail(`${args.path} no longer has the ${r.count} line(s) scripts/build.mjs rewrites (${r.lines}): update ENGINE_REWRITES`);
        source = source.replace(r.lines, r.replace);
      }
      return { contents: source, loader: 'js' };
    });
  },
};
for (const d of ['server', 'gateway', 'mock-providers']) rmSync(join(DIST, d), { recursive: true, force: true });
let esbuild;
try {
  esbuild = await import('esbuild');
} catch {
  fail('esbuild is not installed (npm ci installs it)');
}
try {
  await esbuild.build({
    entryPoints: [join(SERVER_ROOT, 'src', 'cli.ts')],
    outdir: OUT,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20.19',
    // No keepNames: it wraps every function created at run time in a call that redefines its
    // `name`, closures made per request included, and made requests 8–16 % dearer than
    // tsc's output (docs/performance.md). Names survive without it: esbuild renames only
    // a class that refers to itself inside its body (`X = class X2`); the libraries that
    // read such a class's name (ldapts's errors) set `this.name` themselves, and
    // oidc-provider's models, which check `constructor.name`, are not renamed.
    sourcemap: 'linked',
    // V8 keeps every loaded module's source text in memory: without whitespace and comments the
    // idle RSS was 8–9 MiB lower (docs/performance.md). No identifier or syntax minification:
    // the latter names classes `X = class X2`, and names are read at run time (above).
    minifyWhitespace: true,
    logLevel: 'warning',
    external: ['better-sqlite3', 'pg', 'pg-native', '@node-rs/*', '*.node', 'pino', 'thread-stream', 'pino-pretty', 'ioredis'],
    // Bundled CommonJS packages call require() for Node's modules and the external ones.
    banner: { js: "import { createRequire as __tesseraRequire } from 'node:module'; const require = __tesseraRequire(import.meta.url);" },
    plugins: [zodEnglishOnly, noFastifyCompilers, oneMimeDb, noOpenTelemetry, engineRewrites],
  });
} catch (err) {
  fail(`esbuild failed: ${err?.message ?? err}`);
}

// A CommonJS package imported with import() becomes a chunk with a `default` export only (Node
// itself would also guess named exports): each such import must take `default`, through
// commonJs() (startup/lazy.ts) or `.default`, or import only for the side effects.
const chunks = readdirSync(OUT).filter((f) => f.endsWith('.js'));
const defaultOnly = new Set(chunks.filter((f) => /(?:^|;)\s*export default require_\w+\(\);?$/m.test(readFileSync(join(OUT, f), 'utf8'))));
for (const f of chunks) {
  for (const m of readFileSync(join(OUT, f), 'utf8').matchAll(/(.{0,24})import\("\.\/([^"]+)"\)(.{0,10})/g)) {
    const [, before, target, after] = m;
    if (!defaultOnly.has(target)) continue;
    const ok = before.endsWith('commonJs(await ') || /^\)\.default\b/.test(after) || (/(?:^|[;{}])\s*await $/.test(before) && after.startsWith(';'));
    if (!ok) fail(`${f} imports the CommonJS chunk ${target} expecting named exports: wrap the import() in commonJs() (startup/lazy.ts)`);
  }
}

// Files other than TypeScript that the sources read relative to themselves (`new URL('./x', import.meta.url)`):
// every chunk sits in OUT, so each goes there under its own name.
let copied = 0;
const copy = (dir, rel) => {
  for (const entry of readdirSync(join(packagesDir, dir, rel), { withFileTypes: true })) {
    const sub = join(rel, entry.name);
    if (entry.isDirectory()) copy(dir, sub);
    else if (entry.isFile() && !entry.name.endsWith('.ts')) {
      const target = join(OUT, entry.name);
      if (existsSync(target)) fail(`two files would be ${target}: asset names must be unique`);
      copyFileSync(join(packagesDir, dir, sub), target);
      copied++;
    }
  }
};
for (const d of INPUT_DIRS) if (existsSync(join(packagesDir, d))) copy(d, '');

writeFileSync(STAMP, JSON.stringify({ fingerprint: before, builtAt: new Date().toISOString(), node: process.version }) + '\n');
console.log(`build: packages/server/dist up to date (${((performance.now() - started) / 1000).toFixed(1)} s, ${copied} asset file(s) copied)`);
