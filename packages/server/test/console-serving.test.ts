import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { MACHINE_SECRET, PLATFORM_ADMIN, adminApi, adminAudience, machineToken } from './helpers/admin.js';
import { codeFlow, discover } from './helpers/flows.js';
import { UserAgent } from './helpers/agent.js';
import { loadSettings, parseDeclarative } from '../src/config/load.js';
import { ConfigError } from '../src/config/errors.js';
import { ACCOUNT_CLIENT_ID } from '../src/account/session.js';
import { CONSOLE_CLIENT_ID } from '../src/console/client.js';

/**
 * The admin console as the server serves it (src/console): a stand-in build
 * in a temporary directory (TESSERA_CONSOLE_DIR), so these tests need no
 * Vite build; the built-in `tessera-console` client, signed in through for real.
 */
const INDEX = '<!doctype html><html><head><script type="module" crossorigin src="/admin/assets/index-Ab12Cd34.js"></script>'
  + '<link rel="stylesheet" crossorigin href="/admin/assets/index-Ef56Gh78.css"></head><body><div id="app">CONSOLE-SPA</div></body></html>';
const JS = 'console.log("console")';
const CSS = 'body{margin:0}';
const SECRET = 'TOP-SECRET-OUTSIDE-THE-BUILD';

let t: TestApp;
let root: string;
let dist: string;
const get = (path: string, init: RequestInit = {}) => fetch(`${t.issuer}${path}`, { redirect: 'manual', ...init });

/** A request whose path goes to the server exactly as written (fetch would normalise `..` and `%2e%2e` away). */
function rawGet(path: string): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: t.port, path, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

function directives(csp: string | null): Record<string, string> {
  return Object.fromEntries((csp ?? '').split(';').map((d) => d.trim()).filter(Boolean).map((d) => {
    const [name, ...values] = d.split(/\s+/);
    return [name!, values.join(' ')];
  }));
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'tessera-console-'));
  dist = join(root, 'dist');
  mkdirSync(join(dist, 'assets'), { recursive: true });
  writeFileSync(join(dist, 'index.html'), INDEX);
  writeFileSync(join(dist, 'assets', 'index-Ab12Cd34.js'), JS);
  writeFileSync(join(dist, 'assets', 'index-Ef56Gh78.css'), CSS);
  writeFileSync(join(dist, 'assets', 'logo-Zz99.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
  writeFileSync(join(dist, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
  writeFileSync(join(dist, '.source-hash'), 'deadbeef');
  // Beside the build, not in it: nothing may reach these.
  writeFileSync(join(root, 'secret.txt'), SECRET);
  symlinkSync(join(root, 'secret.txt'), join(dist, 'assets', 'linked-Aa11.js'));
  t = await startTestApp({
    env: { TESSERA_CONSOLE_DIR: dist },
    config: {
      clients: [{
        client_id: 'ops-bot', client_secret: MACHINE_SECRET, grant_types: ['client_credentials'],
        token_endpoint_auth_method: 'client_secret_basic', admin_scopes: ['identity.admin', 'auth.admin'],
      }],
    },
  });
});

afterAll(async () => {
  await t?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('serving the console at /admin', () => {
  test('/admin redirects to /admin/, keeping the query', async () => {
    const res = await get('/admin');
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('/admin/');
    expect((await get('/admin?x=1')).headers.get('location')).toBe('/admin/?x=1');
  });

  test('/admin/ is the SPA, never cached, with the console CSP and the platform headers', async () => {
    const res = await get('/admin/');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await res.text()).toBe(INDEX);
    expect(directives(res.headers.get('content-security-policy'))).toEqual({
      'default-src': "'none'",
      'script-src': "'self'",
      'connect-src': "'self'",
      'style-src': "'self'",
      'img-src': "'self' data:",
      'form-action': "'self'",
      'frame-ancestors': "'none'",
      'base-uri': "'none'",
    });
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
  });

  test('any other path that is not a file is the SPA (client-side routes, the sign-in callback)', async () => {
    for (const path of ['/admin/users', '/admin/users/42/sessions', '/admin/callback?code=abc&state=xyz', '/admin/index.html', '/admin/.source-hash', '/admin/no-such.js']) {
      const res = await get(path);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('cache-control'), path).toBe('no-store');
      expect(res.headers.get('content-security-policy'), path).toContain("script-src 'self'");
      expect(await res.text(), path).toBe(INDEX);
    }
  });

  test('hashed assets are cached for good, with their content types', async () => {
    for (const [path, type, body] of [
      ['/admin/assets/index-Ab12Cd34.js', 'text/javascript; charset=utf-8', JS],
      ['/admin/assets/index-Ef56Gh78.css', 'text/css; charset=utf-8', CSS],
      ['/admin/assets/logo-Zz99.svg', 'image/svg+xml', '<svg xmlns="http://www.w3.org/2000/svg"/>'],
    ] as const) {
      const res = await get(path);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type'), path).toBe(type);
      expect(res.headers.get('cache-control'), path).toBe('public, max-age=31536000, immutable');
      expect(res.headers.get('x-content-type-options'), path).toBe('nosniff');
      expect(await res.text(), path).toBe(body);
    }
    const head = await get('/admin/assets/index-Ab12Cd34.js', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
  });

  test('a missing asset is 404, never the SPA', async () => {
    for (const path of ['/admin/assets/index-00000000.js', '/admin/assets/', '/admin/assets', '/admin/assets/nested/x.css']) {
      const res = await get(path, { headers: { accept: 'text/html' } });
      expect(res.status, path).toBe(404);
      expect(String(res.headers.get('cache-control')), path).not.toContain('immutable');
      expect(await res.text(), path).not.toContain('CONSOLE-SPA');
    }
  });

  test('a file at the top of the build is served, revalidated', async () => {
    const res = await get('/admin/favicon.svg');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/svg+xml');
    expect(res.headers.get('cache-control')).toBe('no-cache');
  });

  test('nothing outside the build can be reached (.., %2e%2e, encoded slashes, links)', async () => {
    const attempts = [
      '/admin/assets/../../secret.txt',
      '/admin/assets/%2e%2e/%2e%2e/secret.txt',
      '/admin/assets/%2E%2E/%2E%2E/secret.txt',
      '/admin/assets/..%2f..%2fsecret.txt',
      '/admin/assets/%2e%2e%2f%2e%2e%2fsecret.txt',
      '/admin/assets/..%5c..%5csecret.txt',
      '/admin/assets/%252e%252e/%252e%252e/secret.txt',
      '/admin/assets/../index.html',
      '/admin/../secret.txt',
      '/admin/%2e%2e/secret.txt',
      '/admin/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
      '/admin/x/%2e%2e/%2e%2e/secret.txt',
      '/admin/assets/linked-Aa11.js',
      `/admin/assets/${encodeURIComponent(join(root, 'secret.txt'))}`,
      `/admin/${encodeURIComponent(`..${sep}secret.txt`)}`,
      '/admin/assets/x%00.js',
    ];
    for (const path of attempts) {
      const res = await rawGet(path);
      expect(res.body, path).not.toContain(SECRET);
      expect(res.body, path).not.toContain('root:');
      expect(res.status, path).not.toBe(500);
      // Under /admin/assets: 404. Elsewhere: 404 for `..` segments, or at most the SPA itself.
      if (path.startsWith('/admin/assets/')) expect(res.status, path).toBe(404);
      else expect([200, 404], path).toContain(res.status);
      if (res.status === 200) expect(res.body, path).toBe(INDEX);
    }
    // The router decodes once: %2e%2e is a `..` segment, refused outright.
    expect((await rawGet('/admin/%2e%2e/secret.txt')).status).toBe(404);
  });

  test('config.json tells the SPA how to sign in and where the admin API is', async () => {
    const res = await get('/admin/config.json');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await res.json()).toEqual({
      issuer: t.issuer,
      client_id: 'tessera-console',
      redirect_uri: `${t.issuer}/admin/callback`,
      post_logout_redirect_uri: `${t.issuer}/admin/`,
      resource: `${t.issuer}/api/admin`,
      scope: 'openid profile email identity.admin auth.admin',
      api_base: `${t.issuer}/api/admin/v1`,
      acr_mfa: 'urn:tessera:acr:mfa',
      step_up_max_age: 600,
    });
  });

  test('without a build: 503 with a page saying how to build it (never 500), picked up again once built', async () => {
    renameSync(join(dist, 'index.html'), join(dist, 'index.html.away'));
    try {
      for (const path of ['/admin/', '/admin/users']) {
        const res = await get(path, { headers: { 'accept-language': 'en' } });
        expect(res.status, path).toBe(503);
        expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
        expect(res.headers.get('cache-control')).toBe('no-store');
        // The platform's page CSP: no script at all on this page.
        const csp = directives(res.headers.get('content-security-policy'));
        expect(csp['default-src']).toBe("'none'");
        expect(csp['script-src']).toBeUndefined();
        const html = await res.text();
        expect(html).toContain('<code>npm run build:console</code>');
        expect(html).toContain('/assets/tessera.css');
      }
    } finally {
      renameSync(join(dist, 'index.html.away'), join(dist, 'index.html'));
    }
    // The whole directory gone (a fresh checkout): the same answer; assets stay 404, config.json is there.
    renameSync(dist, `${dist}.away`);
    try {
      expect((await get('/admin/')).status).toBe(503);
      expect((await get('/admin/assets/index-Ab12Cd34.js')).status).toBe(404);
      expect((await get('/admin/config.json')).status).toBe(200);
    } finally {
      renameSync(`${dist}.away`, dist);
    }
    // Rebuilt: served again without a restart.
    expect((await get('/admin/')).status).toBe(200);
    expect(t.logs.some((l) => l.includes('admin console requested but not built'))).toBe(true);
    expect(t.logs.some((l) => /"level":50/.test(l) && l.includes('console'))).toBe(false);
  });
});

describe('the built-in tessera-console client', () => {
  test('exists at start: public, first-party, default tenant, URIs on the issuer, refresh tokens', async () => {
    const client = await t.app.platform.clients.find(CONSOLE_CLIENT_ID);
    expect(client).toMatchObject({
      tenantId: 'default',
      firstParty: true,
      secretHash: null,
      metadata: {
        token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: [`${t.issuer}/admin/callback`],
        post_logout_redirect_uris: [`${t.issuer}/admin/`],
        // Client grants: the admin API scopes are listed (oidc/client-grants.ts).
        scope: 'openid profile email identity.admin auth.admin',
      },
    });
    // The engine accepts it as stored.
    await expect(t.app.provider().Client.find(CONSOLE_CLIENT_ID)).resolves.toBeTruthy();
  });

  test('a code + PKCE flow for the admin API yields a token the admin API accepts; refresh rotates', async () => {
    const config = await discover(t.issuer, { clientId: CONSOLE_CLIENT_ID, auth: 'none' });
    const { tokens } = await codeFlow(config, new UserAgent(), t.issuer, PLATFORM_ADMIN, {
      redirect_uri: `${t.issuer}/admin/callback`,
      scope: 'openid identity.admin auth.admin',
      resource: adminAudience(t.issuer),
      prompt: 'login',
    });
    const claims = JSON.parse(Buffer.from(tokens.access_token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    expect(claims).toMatchObject({ aud: adminAudience(t.issuer), client_id: CONSOLE_CLIENT_ID, tenant: 'default' });
    expect(String(claims.scope).split(' ').sort()).toEqual(['auth.admin', 'identity.admin']);
    const api = adminApi(t.issuer);
    expect((await api('GET', '/users', { token: tokens.access_token })).status).toBe(200);
    expect((await api('GET', '/clients', { token: tokens.access_token })).status).toBe(200);

    // First-party + refresh_token: a refresh token without offline_access, rotated on use (public client).
    expect(tokens.refresh_token).toBeTruthy();
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!, { resource: adminAudience(t.issuer) });
    expect(refreshed.refresh_token).toBeTruthy();
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
    expect((await api('GET', '/users', { token: refreshed.access_token })).status).toBe(200);
  });

  test('cannot be changed, deleted or rotated through the admin API', async () => {
    const token = await machineToken(t.issuer, 'ops-bot');
    const api = adminApi(t.issuer);
    const read = await api('GET', `/clients/${CONSOLE_CLIENT_ID}`, { token });
    expect(read.status).toBe(200);
    const patch = await api('PATCH', `/clients/${CONSOLE_CLIENT_ID}`, { token, body: { client_name: 'Mine' }, headers: { 'if-match': '*' } });
    expect(patch.status).toBe(409);
    expect((await api('DELETE', `/clients/${CONSOLE_CLIENT_ID}`, { token })).status).toBe(409);
    expect((await api('POST', `/clients/${CONSOLE_CLIENT_ID}/secret`, { token, body: {} })).status).toBe(409);
    expect((await api('POST', '/clients', { token, body: { client_id: CONSOLE_CLIENT_ID, grant_types: ['client_credentials'] } })).status).toBe(409);
    expect(await t.app.platform.clients.find(CONSOLE_CLIENT_ID)).toMatchObject({ metadata: { client_name: 'Tessera admin console' } });
  });

  test('the declarative file cannot declare the built-in clients (it would fight the start-up registration)', () => {
    expect(ACCOUNT_CLIENT_ID).toBe('tessera-account');
    for (const clientId of [CONSOLE_CLIENT_ID, ACCOUNT_CLIENT_ID]) {
      const file = { clients: [{ client_id: clientId, token_endpoint_auth_method: 'none', redirect_uris: ['https://app.example/cb'] }] };
      expect(() => parseDeclarative(JSON.stringify(file))).toThrow(ConfigError);
      expect(() => parseDeclarative(JSON.stringify(file))).toThrow(`clients[0].client_id: "${clientId}" is a built-in client`);
    }
  });

  test('the build is looked up in packages/console/dist unless TESSERA_CONSOLE_DIR says otherwise', () => {
    expect(loadSettings({}).consoleDir.split(sep).slice(-3)).toEqual(['packages', 'console', 'dist']);
    expect(loadSettings({ TESSERA_CONSOLE_DIR: root }).consoleDir).toBe(root);
  });
});
