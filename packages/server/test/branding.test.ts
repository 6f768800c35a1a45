/**
 * Tenant branding (issue 19, item 5; docs/branding.md): declared in the
 * configuration file and changed through the admin API; the hosted pages
 * show the tenant's name, logo, colours, stylesheet, favicon and texts, all
 * served by Tessera within the pages' CSP; authenticator apps get the
 * tenant's issuer name. (Screenshots and layout: test/e2e/branding.test.ts.)
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { UserAgent, formAction } from './helpers/agent.js';
import { text } from './helpers/account.js';
import { hiddenInputs } from './helpers/forms.js';
import { adminApi, adminConfig, machineToken, person } from './helpers/admin.js';
import { REDIRECT } from './fixtures.js';
import { parseDeclarative } from '../src/config/load.js';
import { ConfigError } from '../src/config/errors.js';

export const PNG_1PX = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';
const SVG_LOGO = '<svg xmlns="http://www.w3.org/2000/svg" width="120" height="32"><rect width="120" height="32" fill="#0b7285"/></svg>';

let dir: string;
let t: TestApp;
let call: ReturnType<typeof adminApi>;
let platformToken: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-branding-'));
  writeFileSync(join(dir, 'acme.svg'), SVG_LOGO);
  writeFileSync(join(dir, 'acme.css'), '.brand-name{font-style:italic}\n');
  const base = adminConfig({
    clients: [{ client_id: 'acme-app', token_endpoint_auth_method: 'none', redirect_uris: [REDIRECT], tenant: 'acme', client_name: 'Acme App' }],
    users: [person('pam', { tenant: 'acme' })],
  });
  t = await startTestApp({
    config: {
      ...base,
      tenants: [
        { id: 'default', name: 'Default', policy: { registration: 'open' },
          branding: { name: 'Example ID', colors: { primary: '#0b7285' }, favicon: `data:image/png;base64,${PNG_1PX}` } },
        { id: 'acme', name: 'Acme Corp', branding: {
          name: 'Acme Portal', logo: join(dir, 'acme.svg'), stylesheet: join(dir, 'acme.css'), colors: { background: '#fff8e1' },
          authenticator_issuer: 'Acme', texts: { en: { 'login.title': 'Sign in to Acme Portal' }, de: { 'login.title': 'Bei Acme Portal anmelden' } },
        } },
        ...base.tenants.filter((x) => x.id !== 'acme'),
      ],
    },
  });
  call = adminApi(t.issuer);
  platformToken = await machineToken(t.issuer, 'ops-bot');
});
afterAll(async () => {
  await t?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function get(path: string, headers: Record<string, string> = {}): Promise<{ res: Response; html: string }> {
  const res = await fetch(`${t.issuer}${path}`, { headers });
  return { res, html: await res.text() };
}

/** The sign-in page of an authorization request for `clientId`. */
async function signInPage(clientId: string, lang = 'en'): Promise<string> {
  const agent = new UserAgent({ 'accept-language': lang });
  const url = `${t.issuer}/oidc/auth?${new URLSearchParams({
    client_id: clientId, redirect_uri: REDIRECT, response_type: 'code', scope: 'openid',
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
  })}`;
  const { res } = await agent.follow(await agent.get(url), url);
  expect(res.status).toBe(200);
  return res.text();
}

/** pam (tenant acme) signed in to the account pages, which sign in with `tenant=acme`. */
async function acmeAccount(): Promise<{ agent: UserAgent; html: string }> {
  const agent = new UserAgent();
  const start = `${t.issuer}/account/signin?tenant=acme`;
  const first = await agent.follow(await agent.get(start), start);
  const action = new URL(formAction(await first.res.text(), '/login'), t.issuer);
  const { res, url } = await agent.follow(await agent.post(action, { username: 'pam', password: person('pam').password }), action.href);
  expect(new URL(url).pathname).toBe('/account');
  return { agent, html: await res.text() };
}

/** The brand's <link> of a kind (the theme, not /assets/tessera.css). */
const linkOf = (html: string, rel: string) => new RegExp(`<link rel="${rel}" href="(/branding/[^"]+)">`).exec(html)?.[1];

describe('pages show their tenant\'s brand', () => {
  test('the product (default tenant): name, favicon, colours; "Join Example ID." instead of "Join Default."', async () => {
    const home = await get('/');
    expect(home.html).toContain('<span class="brand-name">Example ID</span>');
    expect(text(linkOf(home.html, 'icon')!)).toMatch(/^\/branding\/default\/favicon\?v=[\w-]{12}$/);
    const theme = await get(text(linkOf(home.html, 'stylesheet')!));
    expect(theme.res.headers.get('content-type')).toMatch(/^text\/css/);
    expect(theme.html).toContain('--accent:#0b7285');
    expect(theme.html).toContain('--on-accent:#ffffff');
    const register = await get('/register');
    expect(text(register.html)).toContain('Join Example ID.');
    expect(register.html).not.toContain('Join Default');
    expect(register.html).toContain('<title>Create an account · Example ID</title>');
  });

  test('a tenant\'s sign-in page: its name, logo, stylesheet and texts, inside the unchanged CSP', async () => {
    const html = await signInPage('acme-app');
    expect(html).toContain('<span class="brand-name">Acme Portal</span>');
    expect(text(html)).toMatch(/<img class="brand-logo" src="\/branding\/acme\/logo\?v=[\w-]{12}" alt="">/);
    expect(html).toContain('<h1>Sign in to Acme Portal</h1>');
    // The favicon is inherited from the product.
    expect(text(linkOf(html, 'icon')!)).toMatch(/^\/branding\/default\/favicon\?v=/);
    const themeUrl = text(linkOf(html, 'stylesheet')!);
    expect(themeUrl).toMatch(/^\/branding\/acme\/theme\.css\?v=/);
    const theme = await get(themeUrl);
    // Product colours, the tenant's own on top, then the tenant's stylesheet.
    expect(theme.html).toContain('--accent:#0b7285');
    expect(theme.html).toContain('--bg:#fff8e1');
    expect(theme.html).toContain('.brand-name{font-style:italic}');
    expect(theme.res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(text(await signInPage('acme-app', 'de'))).toContain('<h1>Bei Acme Portal anmelden</h1>');
    // Another tenant's client shows the product's brand.
    const plain = await signInPage('spa');
    expect(plain).toContain('<span class="brand-name">Example ID</span>');
    expect(plain).toContain('<h1>Sign in</h1>');
  });

  test('a sign-in\'s first page reads its interaction once; another browser\'s request for it still gets the tenant\'s brand', async () => {
    const Interaction = t.app.provider().Interaction;
    const start = () => `${t.issuer}/oidc/auth?${new URLSearchParams({
      client_id: 'acme-app', redirect_uri: REDIRECT, response_type: 'code', scope: 'openid',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
    })}`;
    const owner = new UserAgent();
    const toPage = (await owner.get(start())).headers.get('location')!;
    expect(toPage).toMatch(/^\/interaction\/[\w-]+$/);
    const finds = vi.spyOn(Interaction, 'find');
    try {
      const page = await owner.get(new URL(toPage, t.issuer));
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<h1>Sign in to Acme Portal</h1>');
      // The brand hook and the page share one load (interaction/details.ts, interactionInRequest).
      expect(finds).toHaveBeenCalledTimes(1);

      // Another browser asks first for a fresh interaction's page: no interaction of its own, so the brand reads it by uid.
      const other = (await new UserAgent().get(start())).headers.get('location')!;
      finds.mockClear();
      const stranger = await new UserAgent().get(new URL(other, t.issuer));
      expect(stranger.status).toBe(400);
      expect(await stranger.text()).toContain('<span class="brand-name">Acme Portal</span>');
      expect(finds).toHaveBeenCalledTimes(1);
    } finally {
      finds.mockRestore();
    }
  });

  test('the CSP of branded pages stays self-only', async () => {
    const res = await fetch(`${t.issuer}/register`);
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).toContain("img-src 'self' data:");
  });

  test('the account pages look like the signed-in user\'s tenant', async () => {
    const { html } = await acmeAccount();
    expect(html).toContain('<span class="brand-name">Acme Portal</span>');
  });

  test('files: types sniffed, SVG sandboxed, revalidation, unknown assets 404', async () => {
    const html = await signInPage('acme-app');
    const logoUrl = /<img class="brand-logo" src="([^"]+)"/.exec(html)![1]!;
    const logo = await fetch(`${t.issuer}${text(logoUrl)}`);
    expect(logo.headers.get('content-type')).toBe('image/svg+xml');
    expect(logo.headers.get('content-security-policy')).toContain('sandbox');
    expect(logo.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await logo.text()).toBe(SVG_LOGO);
    const again = await fetch(`${t.issuer}/branding/acme/logo`, { headers: { 'if-none-match': logo.headers.get('etag')! } });
    expect(again.status).toBe(304);
    expect((await fetch(`${t.issuer}/branding/globex/logo`)).status).toBe(404);
    expect((await fetch(`${t.issuer}/branding/acme/secrets`)).status).toBe(404);
  });

  test('authenticator apps get the tenant\'s issuer name', async () => {
    const { agent } = await acmeAccount();
    const security = await agent.get(`${t.issuer}/account/security`);
    const securityHtml = await security.text();
    const start = await agent.post(new URL(formAction(securityHtml, '/account/security/totp'), t.issuer), hiddenInputs(securityHtml));
    const uri = text(/href="(otpauth:\/\/[^"]+)"/.exec(await start.text())![1]!);
    expect(new URL(uri).searchParams.get('issuer')).toBe('Acme');
    expect(decodeURIComponent(new URL(uri).pathname)).toBe('/Acme:pam@example.test');
  });
});

describe('the admin API', () => {
  test('read; change with merge semantics; the pages follow at once; audited', async () => {
    const read = await call<Record<string, unknown>>('GET', '/tenants/acme/branding', { token: platformToken });
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({
      tenant: 'acme', name: 'Acme Portal', colors: { background: '#fff8e1' }, authenticator_issuer: 'Acme',
      logo: { type: 'image/svg+xml', bytes: SVG_LOGO.length }, favicon: null,
      effective: { name: 'Acme Portal', favicon_url: expect.stringMatching(/^\/branding\/default\/favicon/) },
    });
    const patched = await call('PATCH', '/tenants/globex/branding', { token: platformToken, body: { name: 'Globex Login', logo: `data:image/png;base64,${PNG_1PX}`, colors: { primary: '#c92a2a' } } });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    expect(patched.body).toMatchObject({ name: 'Globex Login', logo: { type: 'image/png', bytes: 70 } });
    const logo = await fetch(`${t.issuer}/branding/globex/logo`);
    expect(logo.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await logo.arrayBuffer()).toString('base64')).toBe(PNG_1PX);
    // Only the name changes; the logo stays.
    const renamed = await call('PATCH', '/tenants/globex/branding', { token: platformToken, body: { name: 'Globex ID' } });
    expect(renamed.body).toMatchObject({ name: 'Globex ID', logo: { type: 'image/png' }, colors: { primary: '#c92a2a' } });
    const removedLogo = await call('PATCH', '/tenants/globex/branding', { token: platformToken, body: { logo: null } });
    expect(removedLogo.body).toMatchObject({ logo: null, name: 'Globex ID' });
    const audit = await call<{ items: { action: string; details: Record<string, unknown> }[] }>('GET', '/audit?action=tenant.branding_changed&subject=globex', { token: platformToken });
    expect(audit.body.items.map((e) => e.details.fields)).toEqual([['logo'], ['name'], ['colors', 'logo', 'name']]);
    expect((await call('DELETE', '/tenants/globex/branding', { token: platformToken })).status).toBe(204);
    expect((await call('GET', '/tenants/globex/branding', { token: platformToken })).body).toMatchObject({ name: null, effective: { name: 'Globex' } });
  });

  test('bad input: field codes, nothing stored', async () => {
    const cases: [Record<string, unknown>, string, string][] = [
      [{ logo: 'https://evil.example/logo.png' }, 'logo', 'invalid_data_uri'],
      [{ logo: `data:image/png;base64,${Buffer.from('<html><script>alert(1)</script></html>').toString('base64')}` }, 'logo', 'not_an_image'],
      [{ favicon: `data:image/png;base64,${Buffer.alloc(70 * 1024, 1).toString('base64')}` }, 'favicon', 'too_large'],
      [{ colors: { primary: 'red' } }, 'colors.primary', 'invalid'],
      [{ texts: { en: { 'login.titel': 'x' } } }, 'texts.en.login.titel', 'unknown_key'],
      [{ texts: { fr: { 'login.title': 'x' } } }, 'texts', 'unknown_key'],
      [{ authenticator_issuer: 'Acme: Inc' }, 'authenticator_issuer', 'invalid'],
    ];
    for (const [body, field, code] of cases) {
      const r = await call<{ error: string; fields: Record<string, string> }>('PATCH', '/tenants/acme/branding', { token: platformToken, body });
      expect(r.status, JSON.stringify(r.body)).toBe(400);
      expect(r.body.error).toBe('validation_failed');
      expect(r.body.fields[field], JSON.stringify(r.body)).toBe(code);
    }
    expect((await call('GET', '/tenants/acme/branding', { token: platformToken })).body).toMatchObject({ name: 'Acme Portal', logo: { type: 'image/svg+xml' } });
  });

  test('a tenant administrator reads their own tenant\'s branding and changes nothing', async () => {
    const acmeBot = await machineToken(t.issuer, 'acme-bot');
    expect((await call('GET', '/tenants/acme/branding', { token: acmeBot })).status).toBe(200);
    expect((await call('GET', '/tenants/globex/branding', { token: acmeBot })).status).toBe(404);
    expect((await call('PATCH', '/tenants/acme/branding', { token: acmeBot, body: { name: 'Mine' } })).status).toBe(403);
    expect((await call('DELETE', '/tenants/acme/branding', { token: acmeBot })).status).toBe(403);
  });
});

describe('the configuration file', () => {
  const problems = (cfg: unknown, source = join(dir, 'tessera.yaml')) => {
    try {
      parseDeclarative(JSON.stringify(cfg), source);
      return [];
    } catch (err) {
      if (err instanceof ConfigError) return err.problems;
      throw err;
    }
  };

  test('files are read relative to the file; problems are named before anything is written', () => {
    writeFileSync(join(dir, 'page.html'), '<html></html>');
    expect(problems({ tenants: [{ id: 'a', name: 'A', branding: { logo: 'acme.svg', stylesheet: 'acme.css' } }] })).toEqual([]);
    expect(problems({ tenants: [{ id: 'a', name: 'A', branding: { logo: 'missing.png' } }] }))
      .toEqual([`tenants[0].branding.logo: cannot read ${join(dir, 'missing.png')}: no such file or directory (ENOENT)`]);
    expect(problems({ tenants: [{ id: 'a', name: 'A', branding: { favicon: 'page.html' } }] }))
      .toEqual(['tenants[0].branding.favicon: is not an image (PNG, ICO, GIF or SVG)']);
    expect(problems({ tenants: [{ id: 'a', name: 'A', branding: { colours: {} } }] }))
      .toEqual(['tenants[0].branding: unknown key "colours" (did you mean "colors"?)']);
  });

  test('applying the same branding again changes nothing', async () => {
    // The test app applied the file at start; a restart on the same store applies it again.
    const again = await startTestApp({ testStore: t.testStore, config: { tenants: [{ id: 'acme', name: 'Acme Corp', branding: {
      name: 'Acme Portal', logo: join(dir, 'acme.svg'), stylesheet: join(dir, 'acme.css'), colors: { background: '#fff8e1' },
      authenticator_issuer: 'Acme', texts: { en: { 'login.title': 'Sign in to Acme Portal' }, de: { 'login.title': 'Bei Acme Portal anmelden' } },
    } }] } });
    try {
      expect(again.app.configApplied).toEqual({ created: 0, updated: 0, unchanged: 2 });
    } finally {
      await again.close();
    }
  });
});
