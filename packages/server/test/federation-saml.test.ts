/**
 * SAML 2.0 identity providers (docs/directories.md#saml) against the mock
 * SAML IdP of packages/mock-providers (a real HTTP server that signs with
 * xml-crypto): the SP metadata, the full sign-in from an OIDC client
 * (openid-client) through the sign-in page's provider choice, the IdP's
 * HTTP-Redirect AuthnRequest, the ACS's HTTP-POST, the code and the tokens
 * with groups mapped to roles; the federation pipeline (a returning link,
 * a group gone at the IdP, a local account's email, a missing email); and
 * the refusals, each with an error page and an audit entry: unsigned,
 * wrongly signed, wrong audience, expired, replayed (the same POST twice,
 * and a fresh response around a used assertion id), signature wrapping
 * (two samples), a plain assertion where encryption is wanted, a response
 * for another InResponseTo, another browser's RelayState, and an
 * unsolicited response where IdP-initiated sign-in is off.
 * Runs on SQLite and PostgreSQL (TEST_DATABASE_URL).
 */
import * as oidc from 'openid-client';
import { decodeJwt } from 'jose';
import { inflateRawSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { freePort, startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { Browser } from './helpers/upstream.js';
import { discover } from './helpers/flows.js';
import { CONF_SECRET, REDIRECT, baseConfig } from './fixtures.js';
import { startMockProviders } from '../../mock-providers/src/index.js';
import type { MockProviders, SamlScenario } from '../../mock-providers/src/index.js';
import { createExternalLinkRepository } from '../src/federation/links.js';
import { parseProviderConfig } from '../src/federation/provider-config.js';

let t: TestApp;
let mock: MockProviders;
let rp: oidc.Configuration;
const ACS = () => `${t.issuer}/federation/corp/saml/acs`;

beforeAll(async () => {
  // The IdP on localhost, Tessera on 127.0.0.1: two sites, two cookie jars, as in production.
  const mockPort = await freePort();
  mock = await startMockProviders({ port: mockPort, publicUrl: `http://localhost:${mockPort}`, ldap: false, saml: { serviceProviders: [] } });
  t = await startTestApp({
    config: {
      ...baseConfig,
      roles: [...baseConfig.roles, { name: 'staff', tenant: 'default' }],
      clients: [...baseConfig.clients, { client_id: 'portal', client_secret: CONF_SECRET, redirect_uris: [REDIRECT], first_party: true, scope: 'openid profile email roles' }],
      users: [...baseConfig.users, { username: 'lou', password: 'a long enough local password', email: 'local.user@example.com', email_verified: true }],
      identity_providers: [{
        alias: 'corp', type: 'saml', display_name: 'Corp (SAML)', icon: 'building', idp_metadata_url: `${mock.url}/saml/metadata`,
        jit: 'create', trust_email_verified: true, timeout_seconds: 5,
        group_mappings: [{ group: 'staff', roles: ['staff'] }, { group: 'admins', roles: ['editor'] }, { group: 'managers', roles: ['staff'] }],
      }, {
        // Refuses assertions that are not encrypted to its key (the mock does not encrypt).
        alias: 'sealed', type: 'saml', display_name: 'Sealed', idp_metadata_url: `${mock.url}/saml/metadata`, want_assertions_encrypted: true, jit: 'create',
      }, {
        // Its IdP is not reachable (yet): the SP metadata is served all the same; a sign-in gets upstream_unavailable.
        alias: 'later', type: 'saml', display_name: 'Later', idp_metadata_url: 'http://127.0.0.1:9/metadata', timeout_seconds: 2,
      }],
    },
  });
  for (const alias of ['corp', 'sealed']) {
    mock.saml!.registerServiceProvider({ entityId: `${t.issuer}/federation/${alias}/saml/metadata`, acsUrls: [`${t.issuer}/federation/${alias}/saml/acs`] });
  }
  rp = await discover(t.issuer, { clientId: 'portal', clientSecret: CONF_SECRET });
}, 60_000);
afterAll(async () => {
  await t?.close();
  await mock?.close();
});

async function audit(action: string) {
  return (await t.app.store.db.selectFrom('audit_log').selectAll().where('action', '=', action).execute())
    .map((e) => ({ ...e, data: JSON.parse(e.details) as Record<string, unknown> }));
}

/** From the client's authorization request to the IdP's auto-submitting HTTP-POST page. */
async function toIdp(browser: Browser, persona: string, scenario: SamlScenario = 'ok', alias = 'corp') {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = oidc.buildAuthorizationUrl(rp, {
    redirect_uri: REDIRECT, scope: 'openid email profile roles', state, nonce,
    claims: JSON.stringify({ id_token: { roles: null, email: null, amr: null } }),
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  });
  const signInPage = await browser.run(await browser.get(url), url.href, REDIRECT);
  const html = await signInPage.page!.text();
  const href = new RegExp(`href="([^"]+/federation/${alias}/start)"`).exec(html)?.[1];
  if (!href) throw new Error(`no SAML button: ${html.slice(0, 300)}`);
  const start = new URL(href, t.issuer);
  const toIdpRes = await browser.get(start);
  expect(toIdpRes.status).toBe(303);
  const sso = new URL(toIdpRes.headers.get('location')!);
  mock.saml!.nextSignIn(persona, scenario);
  const idpPage = await browser.get(sso);
  const form = await idpPage.text();
  const field = (name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(form)?.[1]?.replace(/&amp;/g, '&');
  return { sso, acs: /<form method="post" action="([^"]+)"/.exec(form)![1]!, SAMLResponse: field('SAMLResponse')!, RelayState: field('RelayState')!, verifier, state, nonce };
}

/** The HTTP-POST binding: the IdP's page posts the form to the ACS (cross-site, from the IdP's origin). */
async function post(browser: Browser, form: { SAMLResponse: string; RelayState?: string; acs?: string }) {
  const body: Record<string, string> = { SAMLResponse: form.SAMLResponse, ...(form.RelayState !== undefined ? { RelayState: form.RelayState } : {}) };
  const acs = form.acs ?? ACS();
  const res = await browser.agent(acs).request(acs, {
    method: 'POST', body: new URLSearchParams(body).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: mock.url, 'sec-fetch-site': 'cross-site' },
  });
  return browser.run(res, acs, REDIRECT);
}

async function expectRefused(out: { page?: Response }, code: string, status: number, detail: RegExp, provider = 'corp') {
  expect(out.page, 'refused with a page, not a redirect to the client').toBeDefined();
  expect(out.page!.status).toBe(status);
  expect(out.page!.headers.get('content-type')).toContain('text/html');
  expect(await out.page!.text()).toContain(code);
  const failed = await audit('federation.login.failed');
  expect(failed.some((e) => e.data.provider === provider && e.data.reason === code && detail.test(String(e.data.detail))),
    `an audit entry ${code} ${detail}: ${JSON.stringify(failed.map((e) => e.data))}`).toBe(true);
}

describe('SP metadata and configuration', () => {
  test('the SP metadata names the entity id, the ACS (HTTP-POST) and the generated signing and encryption certificates', async () => {
    const res = await fetch(`${t.issuer}/federation/corp/saml/metadata`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/samlmetadata+xml');
    const xml = await res.text();
    expect(xml).toContain(`entityID="${t.issuer}/federation/corp/saml/metadata"`);
    expect(xml).toMatch(new RegExp(`AssertionConsumerService[^>]+Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"[^>]+Location="${ACS()}"`));
    expect(xml).toContain('use="signing"');
    expect(xml).toContain('use="encryption"');
    // The private keys are stored encrypted with the KEK; the same keys on every request.
    const row = await t.app.store.db.selectFrom('saml_sp_keys' as never).selectAll().executeTakeFirstOrThrow() as Record<string, string>;
    expect(row.signing_key).not.toContain('PRIVATE KEY');
    expect(row.encryption_key).not.toContain('PRIVATE KEY');
    const certs = (x: string) => [...x.matchAll(/<ds:X509Certificate>([^<]+)</g)].map((m) => m[1]);
    expect(certs(xml)).toHaveLength(2);
    expect(certs(await (await fetch(`${t.issuer}/federation/corp/saml/metadata`)).text())).toEqual(certs(xml));
    expect((await fetch(`${t.issuer}/federation/nope/saml/metadata`)).status).toBe(400);
    const later = await fetch(`${t.issuer}/federation/later/saml/metadata`);
    expect(later.status).toBe(200);
    expect(await later.text()).toContain(`entityID="${t.issuer}/federation/later/saml/metadata"`);
  });

  test('declarations: one way to the IdP, a redirect for IdP-initiated sign-in, no transient NameID as subject', () => {
    const base = { alias: 'x', type: 'saml', display_name: 'X' };
    const issues = (d: Record<string, unknown>) => {
      const r = parseProviderConfig({ ...base, ...d });
      return r.ok ? [] : r.issues.map((i) => `${i.path.join('.')}: ${i.code}`);
    };
    expect(issues({})).toContain('idp_metadata_url: invalid');
    expect(issues({ idp_metadata_url: 'https://idp.example/md', idp_sso_url: 'https://idp.example/sso' })).toContain('idp_metadata_url: invalid');
    expect(issues({ idp_sso_url: 'https://idp.example/sso' })).toEqual(expect.arrayContaining(['idp_entity_id: invalid', 'idp_certificates: invalid']));
    expect(issues({ idp_metadata_url: 'https://idp.example/md', allow_idp_initiated: true })).toContain('idp_initiated_redirect: invalid');
    expect(issues({ idp_metadata_url: 'https://idp.example/md', name_id_format: 'transient' })).toContain('claim_mapping.subject: required');
    expect(issues({ idp_metadata_url: 'https://idp.example/md', name_id_format: 'transient', claim_mapping: { subject: 'uid' } })).toEqual([]);
    expect(issues({ idp_metadata_url: 'https://idp.example/md', client_secret: 'x' })).toContain('client_secret: unknown_field');
    expect(issues({ idp_metadata_url: 'https://idp.example/md', claim_preset: 'entra', federated_logout: true })).toEqual(['claim_preset: invalid', 'federated_logout: invalid']);
  });
});

describe('sign-in through the mock SAML IdP', () => {
  test('authorize → provider choice → AuthnRequest (HTTP-Redirect, signed) → IdP → ACS → code → tokens with groups mapped to roles', async () => {
    const browser = new Browser();
    const idp = await toIdp(browser, 'alice');
    // The AuthnRequest: deflated, signed with the SP key (RSA-SHA256), asking for a persistent NameID at this ACS.
    expect(idp.sso.searchParams.get('SigAlg')).toBe('http://www.w3.org/2001/04/xmldsig-more#rsa-sha256');
    expect(idp.sso.searchParams.get('Signature')).toBeTruthy();
    const request = inflateRawSync(Buffer.from(idp.sso.searchParams.get('SAMLRequest')!, 'base64')).toString('utf8');
    expect(request).toContain(`AssertionConsumerServiceURL="${ACS()}"`);
    expect(request).toContain('urn:oasis:names:tc:SAML:2.0:nameid-format:persistent');
    expect(idp.acs).toBe(ACS());

    const out = await post(browser, idp);
    expect(out.callback, `to the client, not ${out.url}`).toBeDefined();
    const tokens = await oidc.authorizationCodeGrant(rp, out.callback!, { pkceCodeVerifier: idp.verifier, expectedState: idp.state, expectedNonce: idp.nonce });
    const claims = decodeJwt(tokens.id_token!);
    expect(claims.email).toBe('alice@example.com');
    expect([...(claims.roles as string[])].sort()).toEqual(['editor', 'staff']);
    expect(claims.amr).toEqual(['fed']);
    const emitted = mock.saml!.emitted.at(-1)!;
    const links = await createExternalLinkRepository(t.app.store.db).find('default', 'corp', emitted.nameId!);
    expect(links?.userId).toBe(claims.sub);
    // The assertion id is in the replay cache every instance consults (the engine's shared store: the database, or Redis with REDIS_URL).
    expect(await t.app.platform.payloads.insertOnce('SamlAssertion', `corp ${emitted.assertionId}`, {}, 60)).toBe(false);
    expect(await t.app.platform.payloads.insertOnce('SamlAssertion', `corp _never-seen-${Date.now()}`, {}, 60)).toBe(true);
    const ok = await audit('federation.login.succeeded');
    expect(ok.some((e) => e.data.provider === 'corp')).toBe(true);
  });

  test('a returning person: the link is used, and a group gone at the IdP takes its role away', async () => {
    const signIn = async (scenario: SamlScenario) => {
      const browser = new Browser();
      const idp = await toIdp(browser, 'carol', scenario);
      const out = await post(browser, idp);
      const tokens = await oidc.authorizationCodeGrant(rp, out.callback!, { pkceCodeVerifier: idp.verifier, expectedState: idp.state, expectedNonce: idp.nonce });
      return decodeJwt(tokens.id_token!);
    };
    // carol: groups sales and managers (mapped to staff).
    const first = await signIn('ok');
    expect(first.roles).toEqual(['staff']);
    await t.app.platform.users.setRoles(String(first.sub), 'default', ['editor', 'staff']); // editor by hand: stays
    // The IdP no longer lists managers.
    const again = await signIn('stale_group');
    expect(again.sub).toBe(first.sub);
    expect(again.roles).toEqual(['editor']);
  });

  test('a new persistent NameID with a local account\'s email: the link page, never linked by email alone', async () => {
    const browser = new Browser();
    const out = await post(browser, await toIdp(browser, 'bob', 'duplicate'));
    expect(out.page!.status).toBe(200);
    expect(await out.page!.text()).toContain('An account with this email address already exists');
    const nameId = mock.saml!.emitted.at(-1)!.nameId!;
    expect(await createExternalLinkRepository(t.app.store.db).find('default', 'corp', nameId)).toBeUndefined();
  });

  test('no email attribute while JIT needs one (required_claims): profile_incomplete, no account', async () => {
    const browser = new Browser();
    const out = await post(browser, await toIdp(browser, 'dave', 'missing_email'));
    expect(out.page!.status).toBe(403);
    expect(await out.page!.text()).toContain('profile_incomplete');
    const nameId = mock.saml!.emitted.at(-1)!.nameId!;
    expect(await createExternalLinkRepository(t.app.store.db).find('default', 'corp', nameId)).toBeUndefined();
  });

  test('the person cancels at the IdP: the client gets access_denied', async () => {
    const browser = new Browser();
    const out = await post(browser, await toIdp(browser, 'bob', 'deny'));
    expect(out.callback?.searchParams.get('error')).toBe('access_denied');
  });
});

describe('refused responses: an error page and an audit entry', () => {
  test('unsigned assertion', async () => {
    const browser = new Browser();
    await expectRefused(await post(browser, await toIdp(browser, 'bob', 'unsigned')), 'upstream_invalid_token', 502, /signature/i);
  });

  test('signed with a key the metadata does not pin (its certificate in KeyInfo)', async () => {
    const browser = new Browser();
    await expectRefused(await post(browser, await toIdp(browser, 'bob', 'bad_signature')), 'upstream_invalid_token', 502, /signature/i);
  });

  test('wrong audience', async () => {
    const browser = new Browser();
    await expectRefused(await post(browser, await toIdp(browser, 'bob', 'wrong_audience')), 'upstream_invalid_token', 502, /audience/i);
  });

  test('expired', async () => {
    const browser = new Browser();
    await expectRefused(await post(browser, await toIdp(browser, 'bob', 'expired')), 'upstream_invalid_token', 502, /expired|NotOnOrAfter|subject confirmation/i);
  });

  test('signature wrapping: a forged unsigned assertion beside the signed one', async () => {
    const browser = new Browser();
    await expectRefused(await post(browser, await toIdp(browser, 'bob', 'signature_wrapping')), 'upstream_invalid_token', 502, /assertions/i);
  });

  test('signature wrapping: the signed assertion hidden in Extensions, a forged one where the SP reads', async () => {
    const browser = new Browser();
    const idp = await toIdp(browser, 'bob');
    // The Response's own signature goes (it would no longer verify); the assertion keeps its signature.
    const xml = Buffer.from(idp.SAMLResponse, 'base64').toString('utf8').replace(/<ds:Signature[\s\S]*?<\/ds:Signature>(?=<samlp:Status)/, '');
    const genuine = /<saml:Assertion [\s\S]*<\/saml:Assertion>/.exec(xml)![0];
    const forged = genuine.replace(/<ds:Signature[\s\S]*?<\/ds:Signature>/, '').replace(/ ID="[^"]+"/, ' ID="_forged"')
      .replace(/bob@example\.com/g, 'local.user@example.com');
    // XSW variant: the genuine assertion (and its valid signature) moved into samlp:Extensions, the forgery in its place.
    const wrapped = xml.replace(genuine, forged).replace(/(<\/saml:Issuer>)/, `$1<samlp:Extensions>${genuine}</samlp:Extensions>`);
    await expectRefused(await post(browser, { SAMLResponse: Buffer.from(wrapped).toString('base64'), RelayState: idp.RelayState }), 'upstream_invalid_token', 502, /assertions/);
  });

  test('want_assertions_encrypted: a plain (signed) assertion is refused', async () => {
    const browser = new Browser();
    const idp = await toIdp(browser, 'bob', 'ok', 'sealed');
    await expectRefused(await post(browser, { ...idp, acs: idp.acs }), 'upstream_invalid_token', 502, /not encrypted/, 'sealed');
  });

  test('encrypted assertions: one encrypted to the SP key signs in; an unsigned one inside the encryption is still refused', async () => {
    const md = await (await fetch(`${t.issuer}/federation/sealed/saml/metadata`)).text();
    const cert = /<KeyDescriptor use="encryption">[\s\S]*?<ds:X509Certificate>([^<]+)</.exec(md)![1]!;
    mock.saml!.registerServiceProvider({
      entityId: `${t.issuer}/federation/sealed/saml/metadata`, acsUrls: [`${t.issuer}/federation/sealed/saml/acs`],
      encryptionCertificate: `-----BEGIN CERTIFICATE-----\n${cert}\n-----END CERTIFICATE-----\n`,
    });
    try {
      const browser = new Browser();
      // dave: no account yet (alice's email has one, which would ask for a link).
      const idp = await toIdp(browser, 'dave', 'ok', 'sealed');
      const xml = Buffer.from(idp.SAMLResponse, 'base64').toString('utf8');
      expect(xml).toContain('<saml:EncryptedAssertion>');
      expect(xml).not.toContain('dave@example.net');
      const out = await post(browser, idp);
      expect(out.callback, `signed in, not ${out.url}`).toBeDefined();
      const claims = decodeJwt((await oidc.authorizationCodeGrant(rp, out.callback!, { pkceCodeVerifier: idp.verifier, expectedState: idp.state, expectedNonce: idp.nonce })).id_token!);
      expect(claims.email).toBe('dave@example.net');

      const other = new Browser();
      const unsigned = await toIdp(other, 'bob', 'unsigned', 'sealed');
      expect(Buffer.from(unsigned.SAMLResponse, 'base64').toString('utf8')).toContain('<saml:EncryptedAssertion>');
      await expectRefused(await post(other, unsigned), 'upstream_invalid_token', 502, /signature/i, 'sealed');
    } finally {
      mock.saml!.registerServiceProvider({ entityId: `${t.issuer}/federation/sealed/saml/metadata`, acsUrls: [`${t.issuer}/federation/sealed/saml/acs`] });
    }
  });

  test('replayed: the same POST twice', async () => {
    const browser = new Browser();
    const idp = await toIdp(browser, 'bob');
    expect((await post(browser, idp)).callback).toBeDefined();
    await expectRefused(await post(browser, idp), 'federation_state_invalid', 400, /RelayState/);
  });

  test('replayed: a fresh response around an assertion id already used', async () => {
    const first = new Browser();
    expect((await post(first, await toIdp(first, 'carol'))).callback).toBeDefined();
    // Another browser (the first is signed in now); the mock reuses carol's last assertion id in a new, validly signed response.
    const second = new Browser();
    await expectRefused(await post(second, await toIdp(second, 'carol', 'replay')), 'upstream_invalid_token', 502, /replay/);
  });

  test('a response for another InResponseTo (another sign-in of the same browser)', async () => {
    const browser = new Browser();
    const first = await toIdp(browser, 'bob');
    const second = await toIdp(browser, 'bob');
    await expectRefused(await post(browser, { SAMLResponse: first.SAMLResponse, RelayState: second.RelayState }), 'federation_state_invalid', 400, /InResponseTo/);
  });

  test('a RelayState from another browser', async () => {
    const idp = await toIdp(new Browser(), 'bob');
    await expectRefused(await post(new Browser(), idp), 'federation_state_invalid', 400, /another browser/);
  });

  test('an unsolicited (IdP-initiated) response while the provider does not allow it', async () => {
    const browser = new Browser();
    const idp = await toIdp(browser, 'bob');
    const xml = Buffer.from(idp.SAMLResponse, 'base64').toString('utf8').replace(/ InResponseTo="[^"]*"/g, '');
    await expectRefused(await post(browser, { SAMLResponse: Buffer.from(xml).toString('base64') }), 'federation_state_invalid', 400, /IdP-initiated/);
  });

  test('an IdP whose metadata cannot be fetched: upstream_unavailable at the start, audited', async () => {
    const browser = new Browser();
    const url = oidc.buildAuthorizationUrl(rp, { redirect_uri: REDIRECT, scope: 'openid', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256', idp_hint: 'later' });
    const out = await browser.run(await browser.get(url), url.href, REDIRECT);
    await expectRefused(out, 'upstream_unavailable', 502, /metadata/, 'later');
  });

  test('garbage in the form: a 4xx page, never a 500', async () => {
    const browser = new Browser();
    for (const SAMLResponse of ['not base64 at all!', Buffer.from('<x/>').toString('base64'), Buffer.from('<<<').toString('base64')]) {
      const out = await post(browser, { SAMLResponse, RelayState: 'nope' });
      expect(out.page!.status).toBeGreaterThanOrEqual(400);
      expect(out.page!.status).toBeLessThan(500);
    }
  });
});
