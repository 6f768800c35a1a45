import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Browser } from 'playwright-core';
import { startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { startSimpleSamlPhp } from '../peers/simplesamlphp.js';
import type { SimpleSamlPhp } from '../peers/simplesamlphp.js';
import { createUserRepository } from '../../src/identity/repository.js';
import { launchBrowser, newSession } from './browser.js';
import { rolesApp, spaAddress, startSpa } from './spa.js';
import type { Spa } from './spa.js';

/**
 * A person picks "Corp (SAML)" at Tessera from an oidc-client-ts SPA in
 * Chromium, signs in at Debian's SimpleSAMLphp (the IdP's own login form;
 * its HTTP-POST page posts the signed, encrypted assertion to Tessera's
 * ACS), and the SPA receives Tessera's tokens with the IdP's groups mapped
 * to roles. The IdP is served on 127.0.0.1 like Tessera: over plain http
 * the ACS's browser-binding cookie is SameSite=Lax, which a browser sends
 * on a same-site POST only (with an https issuer it is SameSite=None; Secure).
 */


let t: TestApp;
let ssp: SimpleSamlPhp;
let browser: Browser;
let spa: Spa;
let spaUrl: string;


beforeAll(async () => {
  ssp = await startSimpleSamlPhp([{
    username: 'erin', password: 'erin-ssp-password',
    attributes: { uid: ['erin-0002'], email: ['erin@corp.test'], givenName: ['Erin'], surname: ['Eames'], groups: ['engineers'] },
  }], '127.0.0.1');
  const address = await spaAddress();
  spaUrl = address.url;
  t = await startTestApp({
    config: {
      roles: [{ name: 'engineer', tenant: 'default' }],
      clients: [{
        client_id: 'spa-ts', client_name: 'oidc-client-ts SPA', token_endpoint_auth_method: 'none', first_party: true,
        grant_types: ['authorization_code'], redirect_uris: [`${spaUrl}/callback`], scope: 'openid profile email roles',
      }],
      identity_providers: [{
        alias: 'corp', type: 'saml', display_name: 'Corp (SAML)', icon: 'building', idp_metadata_url: ssp.metadataUrl,
        want_assertions_encrypted: true, jit: 'create', trust_email_verified: true,
        group_mappings: [{ group: 'engineers', roles: ['engineer'] }],
      }],
    },
  });
  const md = await (await fetch(`${t.issuer}/federation/corp/saml/metadata`)).text();
  const cert = (use: string) => new RegExp(`<KeyDescriptor use="${use}">[\\s\\S]*?<ds:X509Certificate>([^<]+)<`).exec(md)![1]!;
  ssp.addServiceProvider({
    entityId: /entityID="([^"]+)"/.exec(md)![1]!, acs: /AssertionConsumerService[^>]+Location="([^"]+)"/.exec(md)![1]!,
    signingCertificate: cert('signing'), encryptionCertificate: cert('encryption'), nameIdAttribute: 'uid',
  });
  spa = await startSpa(address, { elements: ['user', 'roles', 'error'], app: rolesApp(t.issuer, 'email') });
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await spa?.close();
  await t?.close();
  await ssp?.stop();
});

describe('SAML sign-in in Chromium', () => {
  test('Corp (SAML) on the sign-in page → SimpleSAMLphp login → the SPA has tokens with roles from the IdP\'s groups', async () => {
    const { context, page } = await newSession(browser);
    await page.goto(`${spaUrl}/`);
    await page.locator('#user', { hasText: 'signed out' }).waitFor();
    page.evaluate(() => (window as unknown as { app: { login(): void } }).app.login()).catch(() => {});
    await page.waitForURL(/\/interaction\//);
    await page.getByRole('link', { name: 'Sign in with Corp (SAML)' }).click();
    await page.waitForURL((u) => u.href.startsWith(ssp.url));
    await page.locator('input[name="username"]').fill('erin');
    await page.locator('input[name="password"]').fill('erin-ssp-password');
    await page.locator('input[name="password"]').press('Enter');
    await page.waitForURL(`${spaUrl}/`, { timeout: 30_000 });
    await page.locator('#user:not(:empty)').waitFor();
    expect(await page.locator('#error').textContent()).toBe('');
    expect(await page.locator('#user').textContent()).toBe('erin@corp.test');
    expect(JSON.parse((await page.locator('#roles').textContent()) ?? '[]')).toEqual(['engineer']);
    const erin = await createUserRepository(t.app.store.db).findByEmail('default', 'erin@corp.test');
    expect(erin).toMatchObject({ email: 'erin@corp.test', roles: ['engineer'] });
    await context.close();
  });
});
