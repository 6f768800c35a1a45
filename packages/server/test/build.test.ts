import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { decodeProtectedHeader } from 'jose';
import { afterAll, describe, expect, test } from 'vitest';
// @ts-expect-error plain JavaScript (runs before anything is compiled), no declarations
import { SERVER_ROOT, chooseEntry, fingerprint } from '../bin/launch.js';
import { freePort } from './helpers/app.js';

const MACHINE_SECRET = 'build-test-machine-secret-0123456789abcdef';

/** A packages/ tree of its own with a build stamp, to see what the launcher picks. */
function fakeTree(): { packagesDir: string; dist: string; stamp(): void } {
  const root = mkdtempSync(join(tmpdir(), 'tessera-launch-'));
  const packagesDir = join(root, 'packages');
  mkdirSync(join(packagesDir, 'server', 'src', 'oidc'), { recursive: true });
  mkdirSync(join(packagesDir, 'gateway', 'src'), { recursive: true });
  writeFileSync(join(root, 'tsconfig.base.json'), '{}');
  writeFileSync(join(packagesDir, 'server', 'tsconfig.build.json'), '{}');
  writeFileSync(join(packagesDir, 'server', 'src', 'cli.ts'), 'export {};\n');
  writeFileSync(join(packagesDir, 'server', 'src', 'oidc', 'a.ts'), 'export const a = 1;\n');
  writeFileSync(join(packagesDir, 'gateway', 'src', 'main.ts'), 'export {};\n');
  const dist = join(packagesDir, 'server', 'dist');
  mkdirSync(join(dist, 'server', 'src'), { recursive: true });
  writeFileSync(join(dist, 'server', 'src', 'cli.js'), 'export {};\n');
  return { packagesDir, dist, stamp: () => writeFileSync(join(dist, '.build-stamp'), JSON.stringify({ fingerprint: fingerprint(packagesDir) })) };
}

const trees: string[] = [];
afterAll(() => { for (const t of trees) rmSync(resolve(t, '..'), { recursive: true, force: true }); });

describe('bin/launch.js: the build runs only when it matches the sources', () => {
  test('up to date: the compiled CLI; every kind of change: the sources, with the reason', () => {
    const t = fakeTree();
    trees.push(t.packagesDir);
    const pick = (env: Record<string, string> = {}) => chooseEntry({ dist: t.dist, packagesDir: t.packagesDir, env });
    expect(pick()).toEqual({ source: true, reason: 'no build in packages/server/dist' });
    t.stamp();
    expect(pick()).toEqual({ source: false, url: pathToFileURL(join(t.dist, 'server', 'src', 'cli.js')).href });
    // The test suites' switch: the sources, without a notice.
    expect(pick({ TESSERA_FROM_SOURCE: '1' })).toEqual({ source: true, quiet: true });

    const stale = { source: true, reason: 'the sources changed since the last build' };
    // An edit of the same size (only the modification time tells).
    const a = join(t.packagesDir, 'server', 'src', 'oidc', 'a.ts');
    writeFileSync(a, 'export const a = 2;\n');
    utimesSync(a, new Date(), new Date(Date.now() + 5000));
    expect(pick()).toEqual(stale);
    t.stamp();
    expect(pick().source).toBe(false);
    // A new file, in another package the server loads.
    writeFileSync(join(t.packagesDir, 'gateway', 'src', 'extra.ts'), 'export {};\n');
    expect(pick()).toEqual(stale);
    t.stamp();
    // A deleted file.
    rmSync(join(t.packagesDir, 'gateway', 'src', 'extra.ts'));
    expect(pick()).toEqual(stale);
    t.stamp();
    // The compiler settings.
    writeFileSync(join(t.packagesDir, '..', 'tsconfig.base.json'), '{ "compilerOptions": {} }');
    expect(pick()).toEqual(stale);
    t.stamp();
    // The dependencies (bundled into the build): another lock file.
    writeFileSync(join(t.packagesDir, '..', 'package-lock.json'), '{ "lockfileVersion": 3 }');
    expect(pick()).toEqual(stale);
    t.stamp();
    expect(pick().source).toBe(false);
    // A broken stamp.
    writeFileSync(join(t.dist, '.build-stamp'), '{');
    expect(pick()).toEqual({ source: true, reason: 'unreadable build stamp' });
  });
});

// The real build, as `npm ci` leaves it: built here first when it is stale (a developer's tree).
describe('the compiled server', { timeout: 600_000 }, () => {
  test('npm start runs dist/ when it is up to date: ready, no notice, assets found next to the compiled modules', async () => {
    if (chooseEntry({ env: {} }).source) {
      const b = spawnSync(process.execPath, [join(SERVER_ROOT, 'scripts', 'build.mjs')], { encoding: 'utf8' });
      expect(b.status, b.stdout + b.stderr).toBe(0);
    }
    expect(chooseEntry({ env: {} }).source).toBe(false);

    const dir = mkdtempSync(join(tmpdir(), 'tessera-built-'));
    trees.push(join(dir, 'x'));
    const port = await freePort();
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? tmpdir(), PORT: String(port), HOST: '127.0.0.1', TESSERA_ISSUER: `http://127.0.0.1:${port}`,
      TESSERA_DATA_DIR: dir, DATABASE_URL: `sqlite:${join(dir, 'tessera.db')}`, TESSERA_SECRET: 'built-test-secret-built-test-secret', LOG_LEVEL: 'warn',
      TESSERA_CONFIG: join(dir, 'config.json'),
    };
    // A machine client and an API with opaque tokens: introspection and revocation run oidc-provider's rewritten lines.
    writeFileSync(env.TESSERA_CONFIG!, JSON.stringify({
      apis: [{ identifier: 'https://opaque.build.test', name: 'Opaque', scopes: ['read'], access_token_format: 'opaque' }],
      clients: [{ client_id: 'machine', client_secret: MACHINE_SECRET, grant_types: ['client_credentials'], scope: 'read' }],
    }));
    const child = spawn(process.execPath, [join(SERVER_ROOT, 'bin', 'tessera.js'), 'serve'], { env });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.on('data', (d) => (stdout += d));
    try {
      const base = `http://127.0.0.1:${port}`;
      for (let i = 0; ; i++) {
        const ok = await fetch(`${base}/readyz`).then((r) => r.status === 200, () => false);
        if (ok) break;
        if (i > 1200 || child.exitCode !== null) throw new Error(`not ready: ${stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(stderr).not.toContain('running the TypeScript sources');
      const discovery = await (await fetch(`${base}/.well-known/openid-configuration`)).json() as { issuer: string };
      expect(discovery.issuer).toBe(base);
      // prom-client's process metrics run in the bundle without the OpenTelemetry API (a stub, scripts/build.mjs).
      const metrics = await (await fetch(`${base}/metrics`)).text();
      expect(metrics).toMatch(/^tessera_process_cpu_seconds_total \d/m);
      // oidc-provider's list formatter is created on first use in the bundle (scripts/build.mjs): the same message.
      const dupes = await fetch(`${base}/oidc/auth?client_id=a&client_id=b&scope=x&scope=y`);
      expect(dupes.status).toBe(400);
      expect(await dupes.text()).toContain('&#39;client_id&#39; and &#39;scope&#39; parameters must not be provided twice');
      // UserInfo with an unknown token: the same 401 with the lazily built error (ENGINE_REWRITES).
      const userinfo = await fetch(`${base}/oidc/me`, { headers: { authorization: 'Bearer not-a-token-of-this-server' } });
      expect(userinfo.status).toBe(401);
      expect(userinfo.headers.get('www-authenticate')).toContain('error="invalid_token"');
      expect(await userinfo.json()).toMatchObject({ error: 'invalid_token' });
      // Introspection and revocation skip decoding a token with no dot as a JWT (ENGINE_REWRITES): the same answers.
      const machine = { authorization: `Basic ${Buffer.from(`machine:${MACHINE_SECRET}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' };
      const issued = await (await fetch(`${base}/oidc/token`, { method: 'POST', headers: machine, body: 'grant_type=client_credentials&scope=read&resource=https%3A%2F%2Fopaque.build.test' })).json() as { access_token: string };
      expect(issued.access_token).not.toContain('.');
      const introspect = async (token: string) => fetch(`${base}/oidc/token/introspection`, { method: 'POST', headers: machine, body: new URLSearchParams({ token }).toString() });
      expect(await (await introspect(issued.access_token)).json()).toMatchObject({ active: true, client_id: 'machine', scope: 'read' });
      expect(await (await introspect('unknown-opaque-token')).json()).toEqual({ active: false });
      const jws = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{}').toString('base64url')}.`;
      const refused = await introspect(jws);
      expect(refused.status).toBe(400);
      expect(await refused.json()).toMatchObject({ error: 'unsupported_token_type' });
      const revoked = await fetch(`${base}/oidc/token/revocation`, { method: 'POST', headers: machine, body: new URLSearchParams({ token: issued.access_token }).toString() });
      expect(revoked.status).toBe(200);
      expect(await (await introspect(issued.access_token)).json()).toEqual({ active: false });
      // mfa/passkeys/browser.js is read next to the bundle's modules (copied by the build).
      const script = await fetch(`${base}/assets/passkeys.js`);
      expect(script.status).toBe(200);
      expect(await script.text()).toContain('SimpleWebAuthnBrowser');
      // The console's build is looked up in packages/console/dist from the bundle too: served when
      // built, else a 503 whose log line names the directory looked in.
      const consoleDir = resolve(SERVER_ROOT, '..', 'console', 'dist');
      const page = await fetch(`${base}/admin/`);
      if (existsSync(join(consoleDir, 'index.html'))) {
        expect(page.status).toBe(200);
        expect(await page.text()).toBe(readFileSync(join(consoleDir, 'index.html'), 'utf8'));
      } else {
        expect(page.status).toBe(503);
        await page.arrayBuffer();
        for (let i = 0; !stdout.includes('not built') && i < 100; i++) await new Promise((r) => setTimeout(r, 20));
        expect(stdout).toContain(JSON.stringify(consoleDir));
      }
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  });

  test('jose refuses as a JWT every string without a dot, as the introspection rewrite assumes (scripts/build.mjs)', () => {
    // A JOSE header that would decode if the string were taken whole: still refused without the dots.
    const header = Buffer.from('{"alg":"none"}').toString('base64url');
    for (const token of [header, `${header}${header}`, 'unknown-opaque-token', '']) expect(() => decodeProtectedHeader(token)).toThrow();
    expect(decodeProtectedHeader(`${header}.e30.`)).toEqual({ alg: 'none' });
  });

  test('the bundle leaves out code every start would parse for nothing (scripts/build.mjs)', () => {
    expect(chooseEntry({ env: {} }).source).toBe(false);
    const out = join(SERVER_ROOT, 'dist', 'server', 'src');
    const code = readdirSync(out).filter((f) => f.endsWith('.js')).map((f) => readFileSync(join(out, f), 'utf8')).join('\n');
    // zod's English messages only: not its Hebrew ones ("string", as esbuild escapes it) nor 60-odd others.
    expect(code).toContain('Invalid input');
    expect(code).not.toContain('\\u05DE\\u05D7\\u05E8\\u05D5\\u05D6\\u05EA');
    // Fastify's Ajv and serializer compilers are stubs (Tessera gives Fastify its own, http/server.ts): no Ajv options.
    expect(code).not.toContain('strictTuples');
    expect(code).toContain("is not in Tessera's build: Fastify route schemas are not used");
    // One mime-db: koa's accepts shares the top-level copy.
    expect(code.split('"application/1d-interleaved-parityfec"').length - 1).toBe(1);
    // oidc-provider's two Intl.ListFormat (about 6 MiB of ICU data) are made on first use, not at load.
    expect(code).not.toMatch(/const (conjunction|disjunction)\s*=\s*new Intl\.ListFormat/);
    expect(code.match(/(conjunction|disjunction)Made\s*\?\?=\s*new Intl\.ListFormat/g)).toHaveLength(2);
    // oidc-provider's UserInfo assertions build their error only when they fail (ENGINE_REWRITES).
    expect(code.match(/if\(!(accessToken|client|account|unique)\d*\)ctx\.assert\(\1\d*,new \w+\(/g)).toHaveLength(4);
    expect(/[;{}]ctx\.assert\((accessToken|client|account|unique)\d*,new /.test(code)).toBe(false);
    expect(code).toContain("tokenIsJWT=typeof params.token===\"string\"&&!params.token.includes(\".\")?false:!!decodeProtectedHeader");
  });
});
