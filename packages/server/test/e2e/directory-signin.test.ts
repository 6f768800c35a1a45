import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Browser } from 'playwright-core';
import { startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { groupLdif, personLdif, startSlapd } from '../helpers/slapd.js';
import type { Slapd } from '../helpers/slapd.js';
import { createUserRepository } from '../../src/identity/repository.js';
import { launchBrowser, newSession } from './browser.js';
import { rolesApp, spaAddress, startSpa } from './spa.js';
import type { Spa } from './spa.js';

/**
 * A person of the company directory (Debian's slapd over LDAPS) signs in to
 * an oidc-client-ts SPA in Chromium with the directory password on Tessera's
 * hosted page; a wrong password shows the generic answer first. Their
 * account is created from the entry, with roles from the directory groups.
 */


let t: TestApp;
let slapd: Slapd;
let browser: Browser;
let spa: Spa;
let spaUrl: string;


beforeAll(async () => {
  slapd = await startSlapd();
  await slapd.ldapmodify([
    personLdif(slapd.baseDn, { uid: 'ann', cn: 'Ann Archer', sn: 'Archer', givenName: 'Ann', mail: 'ann@corp.test', password: 'ann-directory-pw' }),
    groupLdif(slapd.baseDn, 'engineers', ['ann']),
  ].join('\n'), true);
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
        alias: 'corp', type: 'ldap', display_name: 'Corp directory', jit: 'create', trust_email_verified: true, email_domains: ['corp.test'],
        url: slapd.ldapsUrl, ca_certificate: slapd.caPem, bind_dn: slapd.bindDn, bind_password: slapd.bindPassword,
        user_base: slapd.peopleDn, user_filter: '(&(objectClass=inetOrgPerson)(|(uid={{username}})(mail={{username}})))',
        group_mappings: [{ group: 'engineers', roles: ['engineer'] }],
      }],
    },
  });
  spa = await startSpa(address, { elements: ['user', 'roles', 'error'], app: rolesApp(t.issuer, 'preferred_username') });
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await spa?.close();
  await t?.close();
  await slapd?.close();
});

describe('directory sign-in in Chromium', () => {
  test('a wrong directory password gets the generic answer; the right one signs in with roles from groups', async () => {
    const { context, page } = await newSession(browser);
    await page.goto(`${spaUrl}/`);
    await page.locator('#user', { hasText: 'signed out' }).waitFor();
    page.evaluate(() => (window as unknown as { app: { login(): void } }).app.login()).catch(() => {});
    await page.waitForURL(/\/interaction\//);
    await page.getByLabel('Username or email').fill('ann@corp.test');
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'The username or password is incorrect.' }).waitFor();
    await page.getByLabel('Password').fill('ann-directory-pw');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${spaUrl}/`);
    await page.locator('#user:not(:empty)').waitFor();
    expect(await page.locator('#error').textContent()).toBe('');
    expect(await page.locator('#user').textContent()).toBe('ann');
    expect(JSON.parse((await page.locator('#roles').textContent()) ?? '[]')).toEqual(['engineer']);
    const ann = await createUserRepository(t.app.store.db).findByUsername('default', 'ann');
    expect(ann).toMatchObject({ email: 'ann@corp.test', roles: ['engineer'] });
    await context.close();
  });
});
