import * as oidc from 'openid-client';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { freePort, startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { Browser } from '../helpers/upstream.js';
import { discover } from '../helpers/flows.js';
import { CONF_SECRET, REDIRECT, baseConfig } from '../fixtures.js';
import { createExternalLinkRepository } from '../../src/federation/links.js';
import { startSimpleSamlPhp } from './simplesamlphp.js';
import type { SimpleSamlPhp } from './simplesamlphp.js';

/**
 * Tessera as the SP of a real SAML 2.0 IdP: Debian's SimpleSAMLphp, set up
 * as docs/directories.md#saml says (Tessera's SP metadata: its entity id,
 * ACS and certificates; signed AuthnRequests checked by the IdP; assertions
 * signed and encrypted to Tessera's encryption key). A person picks
 * "Corp (SAML)" on Tessera's sign-in page from an OIDC client
 * (openid-client), signs in at SimpleSAMLphp's login form, and the client
 * gets Tessera's tokens with the IdP's groups mapped to roles. Plain HTTP
 * with a cookie jar per host (Tessera on 127.0.0.1, the IdP on localhost).
 * And IdP-initiated responses from SimpleSAMLphp: refused where the
 * provider does not allow them; where it does, validated, sent on to the
 * application without a session, and refused as a replay the second time.
 */

let t: TestApp;
let ssp: SimpleSamlPhp;
let rp: oidc.Configuration;
const APP_START = 'http://127.0.0.1:9/start-login';
const DANA = { username: 'dana', password: 'dana-ssp-password', email: 'dana@corp.example' };

beforeAll(async () => {
  const sspPort = await freePort();
  // The IdP first: Tessera's SP metadata is built from the IdP's (the provider's context).
  ssp = await startSimpleSamlPhp([{
    username: DANA.username, password: DANA.password,
    attributes: { uid: ['dana-0001'], email: [DANA.email], givenName: ['Dana'], surname: ['Doe'], displayName: ['Dana Doe'], groups: ['staff', 'admins'] },
  }], 'localhost', sspPort);
  t = await startTestApp({
    config: {
      ...baseConfig,
      roles: [...baseConfig.roles, { name: 'staff', tenant: 'default' }],
      clients: [...baseConfig.clients, { client_id: 'portal', client_secret: CONF_SECRET, redirect_uris: [REDIRECT], first_party: true, scope: 'openid profile email roles' }],
      identity_providers: [{
        alias: 'corp', type: 'saml', display_name: 'Corp (SAML)', icon: 'building', idp_metadata_url: ssp.metadataUrl,
        want_assertions_encrypted: true, jit: 'create', trust_email_verified: true,
        group_mappings: [{ group: 'staff', roles: ['staff'] }, { group: 'admins', roles: ['editor'] }],
      }, {
        // IdP-initiated sign-in allowed: validated, then the browser goes to the application, which signs in SP-initiated.
        alias: 'portal-idp', type: 'saml', display_name: 'Corp portal', idp_metadata_url: ssp.metadataUrl, jit: 'create',
        allow_idp_initiated: true, idp_initiated_redirect: `${APP_START}?idp_hint=portal-idp`,
      }],
    },
  });
  for (const alias of ['corp', 'portal-idp']) {
    const md = await (await fetch(`${t.issuer}/federation/${alias}/saml/metadata`)).text();
    const cert = (use: string) => new RegExp(`<KeyDescriptor use="${use}">[\\s\\S]*?<ds:X509Certificate>([^<]+)<`).exec(md)?.[1];
    const signing = cert('signing');
    const encryption = cert('encryption');
    if (!signing || !encryption) throw new Error(`no certificates in Tessera's SP metadata: ${md}`);
    ssp.addServiceProvider({
      entityId: /entityID="([^"]+)"/.exec(md)![1]!, acs: /AssertionConsumerService[^>]+Location="([^"]+)"/.exec(md)![1]!,
      signingCertificate: signing, encryptionCertificate: encryption, nameIdAttribute: 'uid',
    });
  }
  rp = await discover(t.issuer, { clientId: 'portal', clientSecret: CONF_SECRET });
}, 90_000);
afterAll(async () => {
  await t?.close();
  await ssp?.stop();
});

const field = (html: string, name: string) => new RegExp(`name="${name}"[^>]*value="([^"]*)"`).exec(html)?.[1]
  ?? new RegExp(`value="([^"]*)"[^>]*name="${name}"`).exec(html)?.[1];
const unescape = (s: string) => s.replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&#x2F;/g, '/').replace(/&#039;/g, '\'').replace(/&lt;/g, '<').replace(/&gt;/g, '>');

describe('SimpleSAMLphp as the SAML IdP', () => {
  test('a person picks Corp (SAML), signs in at SimpleSAMLphp, and the client gets tokens with groups mapped to roles', async () => {
    const browser = new Browser();
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const url = oidc.buildAuthorizationUrl(rp, {
      redirect_uri: REDIRECT, scope: 'openid email profile roles', state, nonce,
      claims: JSON.stringify({ id_token: { roles: null, email: null, amr: null } }),
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    });
    const signIn = await browser.run(await browser.get(url), url.href, REDIRECT);
    const href = /href="([^"]+\/federation\/corp\/start)"/.exec(await signIn.page!.text())?.[1];
    expect(href, 'the SAML provider on the sign-in page').toBeDefined();

    // Tessera → SimpleSAMLphp (AuthnRequest by HTTP-Redirect) → its login form.
    const start = new URL(href!, t.issuer);
    const login = await browser.run(await browser.get(start), start.href, REDIRECT);
    expect(login.url.startsWith(ssp.url), `at the IdP, not ${login.url}: ${ssp.log()}`).toBe(true);
    const form = await login.page!.text();
    expect(login.page!.status, form.slice(0, 2000) + ssp.log()).toBe(200);
    const authState = field(form, 'AuthState');
    expect(authState, form.slice(0, 2000)).toBeDefined();
    const action = new URL(unescape(/<form[^>]*action="([^"]*)"/.exec(form)?.[1] ?? ''), login.url);

    // The person signs in at the IdP; it answers with its HTTP-POST page to Tessera's ACS.
    const posted = await browser.post(action, { username: DANA.username, password: DANA.password, AuthState: unescape(authState!) });
    const answer = await browser.run(posted, action.href, REDIRECT);
    const page = await answer.page!.text();
    const samlResponse = field(page, 'SAMLResponse');
    expect(samlResponse, `an HTTP-POST page to the ACS: ${page.slice(0, 2000)} ${ssp.log()}`).toBeDefined();
    const acs = unescape(/<form[^>]*action="([^"]+)"/.exec(page)![1]!);
    expect(acs).toBe(`${t.issuer}/federation/corp/saml/acs`);
    const xml = Buffer.from(samlResponse!, 'base64').toString('utf8');
    expect(xml, 'SimpleSAMLphp encrypted the assertion to Tessera\'s key').toContain('EncryptedAssertion');
    expect(xml).not.toContain('dana@corp.example');

    const acsRes = await browser.agent(acs).request(acs, {
      method: 'POST', body: new URLSearchParams({ SAMLResponse: unescape(samlResponse!), RelayState: unescape(field(page, 'RelayState')!) }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: ssp.url, 'sec-fetch-site': 'cross-site' },
    });
    const done = await browser.run(acsRes, acs, REDIRECT);
    if (!done.callback) throw new Error(`no code: ${done.page?.status} ${(await done.page?.text())?.slice(0, 1500)}`);
    const tokens = await oidc.authorizationCodeGrant(rp, done.callback, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
    const claims = decodeJwt(tokens.id_token!);
    expect(claims.email).toBe(DANA.email);
    expect(claims.amr).toEqual(['fed']);
    expect([...(claims.roles as string[])].sort()).toEqual(['editor', 'staff']);
    // The link is the persistent NameID SimpleSAMLphp sent (from uid).
    const link = await createExternalLinkRepository(t.app.store.db).find('default', 'corp', 'dana-0001');
    expect(link?.userId).toBe(claims.sub);
  });
});

/** At SimpleSAMLphp: its login form if it shows one, then its HTTP-POST page; the form's fields. */
async function throughIdp(browser: Browser, res: Response, url: string) {
  let at = await browser.run(res, url, REDIRECT);
  let html = await at.page!.text();
  const authState = field(html, 'AuthState');
  if (authState && /name="password"/.test(html)) {
    const action = new URL(unescape(/<form[^>]*action="([^"]*)"/.exec(html)?.[1] ?? ''), at.url);
    at = await browser.run(await browser.post(action, { username: DANA.username, password: DANA.password, AuthState: unescape(authState) }), action.href, REDIRECT);
    html = await at.page!.text();
  }
  const samlResponse = field(html, 'SAMLResponse');
  if (!samlResponse) throw new Error(`no HTTP-POST page: ${html.slice(0, 1500)} ${ssp.log()}`);
  const relayState = field(html, 'RelayState');
  return { acs: unescape(/<form[^>]*action="([^"]+)"/.exec(html)![1]!), SAMLResponse: unescape(samlResponse), ...(relayState ? { RelayState: unescape(relayState) } : {}) };
}

async function postToAcs(browser: Browser, form: { acs: string; SAMLResponse: string; RelayState?: string }) {
  const { acs, ...body } = form;
  const res = await browser.agent(acs).request(acs, {
    method: 'POST', body: new URLSearchParams(body).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: ssp.url, 'sec-fetch-site': 'cross-site' },
  });
  return { res, text: res.status >= 300 && res.status < 400 ? '' : await res.text() };
}

describe('IdP-initiated sign-in (unsolicited responses from SimpleSAMLphp)', () => {
  const unsolicited = (alias: string) => new URL(`${ssp.url}/saml2/idp/SSOService.php?spentityid=${encodeURIComponent(`${t.issuer}/federation/${alias}/saml/metadata`)}`);

  test('refused where the provider does not allow it: an error page and an audit entry', async () => {
    const browser = new Browser();
    const url = unsolicited('corp');
    const form = await throughIdp(browser, await browser.get(url), url.href);
    expect(Buffer.from(form.SAMLResponse, 'base64').toString('utf8')).not.toContain('InResponseTo');
    const out = await postToAcs(browser, form);
    expect(out.res.status).toBe(400);
    expect(out.text).toContain('federation_state_invalid');
    const failed = await t.app.store.db.selectFrom('audit_log').selectAll().where('action', '=', 'federation.login.failed').execute();
    expect(failed.some((e) => /IdP-initiated sign-in is off/.test(e.details))).toBe(true);
  });

  test('allowed: validated, then to the application (which signs in SP-initiated); the same response again is a replay', async () => {
    const browser = new Browser();
    const url = unsolicited('portal-idp');
    const form = await throughIdp(browser, await browser.get(url), url.href);
    const out = await postToAcs(browser, form);
    expect(out.res.status, out.text.slice(0, 800)).toBe(303);
    expect(out.res.headers.get('location')).toBe(`${APP_START}?idp_hint=portal-idp`);
    // The unsolicited response itself signs no one in: no link, no session cookie for Tessera.
    expect(await createExternalLinkRepository(t.app.store.db).find('default', 'portal-idp', 'dana-0001')).toBeUndefined();
    expect(out.res.headers.getSetCookie().filter((c) => !/Max-Age=0/.test(c))).toEqual([]);
    const again = await postToAcs(browser, form);
    expect(again.res.status).toBe(502);
    expect(again.text).toContain('upstream_invalid_token');
  });
});
