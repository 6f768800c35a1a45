import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SAML, ValidateInResponseTo } from '@node-saml/node-saml';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, newSession } from '../../../server/test/e2e/browser.js';
import { startMockProviders, type MockProviders } from '../../src/index.js';

/**
 * The persona picker and the SAML POST page in Debian's Chromium: the forms work without
 * JavaScript, and the strict CSP (form-action, script hash) does not block the way back to the
 * client, which only a browser enforces (Chromium applies form-action to redirects after a submit).
 */
let mock: MockProviders;
let browser: Browser;
let rp: Server;
let rpUrl: string;
let saml: SAML;

beforeAll(async () => {
  // A tiny relying party: /oidc starts a round trip at the mock Entra ID, /saml one at the SAML IdP.
  rp = createServer((req, res) => {
    const url = new URL(req.url ?? '/', rpUrl);
    if (url.pathname === '/oidc') {
      const auth = new URL(mock.providers.entra.authorizationEndpoint);
      auth.search = new URLSearchParams({ client_id: 'tessera', response_type: 'code', scope: 'openid email', redirect_uri: `${rpUrl}/cb`, state: 'st-1', nonce: 'n-1' }).toString();
      res.writeHead(302, { location: auth.href }).end();
    } else if (url.pathname === '/cb') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end(`code=${url.searchParams.get('code') ?? ''} error=${url.searchParams.get('error') ?? ''}`);
    } else if (url.pathname === '/saml') {
      saml.getAuthorizeUrlAsync('relay-1', undefined, {}).then((location) => res.writeHead(302, { location }).end());
    } else if (url.pathname === '/acs' && req.method === 'POST') {
      let body = '';
      req.on('data', (c: Buffer) => { body += c.toString(); });
      req.on('end', () => {
        const form = new URLSearchParams(body);
        saml.validatePostResponseAsync({ SAMLResponse: form.get('SAMLResponse')!, RelayState: form.get('RelayState')! })
          .then(({ profile }) => res.writeHead(200, { 'content-type': 'text/plain' }).end(`saml ok ${String(profile?.email)} relay=${form.get('RelayState')}`))
          .catch((err: Error) => res.writeHead(400, { 'content-type': 'text/plain' }).end(`saml refused: ${err.message}`));
      });
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => rp.listen(0, '127.0.0.1', resolve));
  rpUrl = `http://127.0.0.1:${(rp.address() as AddressInfo).port}`;
  mock = await startMockProviders({ port: 0, ldap: false, saml: { serviceProviders: [{ entityId: `${rpUrl}/sp`, acsUrls: [`${rpUrl}/acs`] }] } });
  mock.addRedirectUri('entra', `${rpUrl}/cb`);
  saml = new SAML({
    entryPoint: mock.saml!.ssoUrl, issuer: `${rpUrl}/sp`, callbackUrl: `${rpUrl}/acs`, audience: `${rpUrl}/sp`, idpCert: mock.saml!.certificatePem,
    wantAssertionsSigned: true, wantAuthnResponseSigned: true, validateInResponseTo: ValidateInResponseTo.always,
  });
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await mock?.close();
  await new Promise((resolve) => rp?.close(resolve));
});

describe('persona picker in Chromium', () => {
  it('without JavaScript: pick a persona and scenario, and the browser lands at the client with a code', async () => {
    const { context, page } = await newSession(browser, { javaScriptEnabled: false });
    const violations: string[] = [];
    page.on('console', (m) => { if (/Content Security Policy|Refused/i.test(m.text())) violations.push(m.text()); });
    await page.goto(`${rpUrl}/oidc`);
    expect(await page.textContent('h1')).toContain('Mock Entra ID');
    await page.getByLabel('Scenario for Carol Chen').selectOption('stale_group');
    await Promise.all([page.waitForURL(`${rpUrl}/cb**`), page.getByRole('button', { name: 'Sign in as Carol Chen' }).click()]);
    expect(await page.textContent('body')).toMatch(/^code=\S+ error=$/);
    expect(mock.emitted.at(-1)).toMatchObject({ mock: 'entra', persona: 'carol', scenario: 'stale_group' });
    expect(violations).toEqual([]);
    await context.close();
  });

  it('Cancel returns access_denied to the client', async () => {
    const { context, page } = await newSession(browser, { javaScriptEnabled: false });
    await page.goto(`${rpUrl}/oidc`);
    await Promise.all([page.waitForURL(`${rpUrl}/cb**`), page.getByRole('button', { name: /Cancel/ }).click()]);
    expect(await page.textContent('body')).toContain('error=access_denied');
    await context.close();
  });
});

describe('SAML IdP in Chromium', () => {
  it('with JavaScript the POST page submits itself (its script is allowed by hash) and the SP accepts the response', async () => {
    const { context, page } = await newSession(browser);
    const violations: string[] = [];
    page.on('console', (m) => { if (/Content Security Policy|Refused/i.test(m.text())) violations.push(m.text()); });
    await page.goto(`${rpUrl}/saml`);
    await Promise.all([page.waitForURL(`${rpUrl}/acs`), page.getByRole('button', { name: 'Sign in as Alice Anders' }).click()]);
    expect(await page.textContent('body')).toBe('saml ok alice@example.com relay=relay-1');
    expect(violations).toEqual([]);
    await context.close();
  });

  it('without JavaScript the Continue button posts it', async () => {
    const { context, page } = await newSession(browser, { javaScriptEnabled: false });
    await page.goto(`${rpUrl}/saml`);
    await page.getByRole('button', { name: 'Sign in as Bob Brown' }).click();
    await Promise.all([page.waitForURL(`${rpUrl}/acs`), page.getByRole('button', { name: 'Continue' }).click()]);
    expect(await page.textContent('body')).toBe('saml ok bob@example.com relay=relay-1');
    await context.close();
  });
});
