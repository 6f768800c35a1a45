import { SAML, ValidateInResponseTo } from '@node-saml/node-saml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockProviders, type MockProviders } from '../src/index.js';
import type { MockSamlIdp } from '../src/saml.js';

let mock: MockProviders;
let idp: MockSamlIdp;
const LOCAL = 'owner.local@example.com';
const SP = 'http://rp.example/federation/corp/saml/metadata';
const ACS = 'http://rp.example/federation/corp/saml/acs';

beforeAll(async () => {
  mock = await startMockProviders({ port: 0, localEmail: LOCAL, saml: { serviceProviders: [{ entityId: SP, acsUrls: [ACS] }] } });
  idp = mock.saml!;
});
afterAll(async () => {
  await mock?.close();
});

/** @node-saml/node-saml as the service provider, pinned to the mock's certificate, strict about everything. */
function sp(overrides: Record<string, unknown> = {}): SAML {
  return new SAML({
    entryPoint: idp.ssoUrl, issuer: SP, callbackUrl: ACS, audience: SP, idpCert: idp.certificatePem,
    wantAssertionsSigned: true, wantAuthnResponseSigned: true, validateInResponseTo: ValidateInResponseTo.always,
    acceptedClockSkewMs: 2000, identifierFormat: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent', ...overrides,
  });
}

const fieldOf = (html: string, name: string) => html.match(new RegExp(`name="${name}" value="([^"]*)"`))?.[1];

/** SP-initiated sign-in over HTTP-Redirect; returns the HTML the IdP answered and the form fields it would post. */
async function start(saml: SAML, relayState = 'rs-1'): Promise<{ status: number; html: string; headers: Headers }> {
  const url = await saml.getAuthorizeUrlAsync(relayState, undefined, {});
  const res = await fetch(url, { redirect: 'manual' });
  return { status: res.status, html: await res.text(), headers: res.headers };
}

async function signIn(persona: string, scenario: Parameters<MockSamlIdp['nextSignIn']>[1], saml = sp()) {
  idp.nextSignIn(persona, scenario);
  const page = await start(saml);
  expect(page.status).toBe(200);
  const SAMLResponse = fieldOf(page.html, 'SAMLResponse')!;
  expect(fieldOf(page.html, 'RelayState')).toBe('rs-1');
  return { saml, SAMLResponse, page, validate: () => saml.validatePostResponseAsync({ SAMLResponse, RelayState: 'rs-1' }) };
}

describe('mock SAML IdP (@node-saml/node-saml as the SP)', () => {
  it('publishes metadata with its signing certificate and the SSO endpoint', async () => {
    const res = await fetch(idp.metadataUrl);
    expect(res.status).toBe(200);
    const xml = await res.text();
    expect(xml).toContain(`entityID="${idp.entityId}"`);
    expect(xml).toContain(`Location="${idp.ssoUrl}"`);
    const pemBody = idp.certificatePem.replace(/-----[^-]+-----|\s/g, '');
    expect(xml).toContain(pemBody);
  });

  it('ok: a signed Response and Assertion that the SP accepts, with NameID, attributes and the MFA context', async () => {
    const { validate, page } = await signIn('alice', 'ok');
    const policy = page.headers.get('content-security-policy')!;
    expect(policy).toMatch(/script-src 'sha256-[^']+'/);
    expect(policy).toContain("form-action 'self' http://rp.example");
    expect(page.html).toContain(`action="${ACS}"`);
    const { profile } = await validate();
    expect(profile!.nameID).toMatch(/^[0-9a-f-]{36}$/);
    expect(profile!.nameIDFormat).toBe('urn:oasis:names:tc:SAML:2.0:nameid-format:persistent');
    expect(profile!.email).toBe('alice@example.com');
    expect(profile!.groups).toEqual(['staff', 'admins']);
    expect(profile!.tenant).toBe('acme');
    expect(profile!.getAssertionXml!()).toContain('http://schemas.microsoft.com/claims/multipleauthn');
    expect(idp.emitted.at(-1)).toMatchObject({ persona: 'alice', scenario: 'ok', sp: SP, acs: ACS });
  });

  it('a NameIDPolicy of emailAddress gets the email as NameID', async () => {
    const { validate } = await signIn('bob', 'ok', sp({ identifierFormat: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress' }));
    const { profile } = await validate();
    expect(profile!.nameID).toBe('bob@example.com');
  });

  it('deny: a Responder/AuthnFailed status, refused by the SP', async () => {
    const { validate, SAMLResponse } = await signIn('bob', 'deny');
    expect(Buffer.from(SAMLResponse, 'base64').toString()).toContain('status:AuthnFailed');
    await expect(validate()).rejects.toThrow(/Responder|AuthnFailed/);
  });

  it('missing_email, duplicate and stale_group change what the assertion says', async () => {
    const ok = (await (await signIn('carol', 'ok')).validate()).profile!;
    const missing = (await (await signIn('carol', 'missing_email')).validate()).profile!;
    expect(missing).not.toHaveProperty('email');
    expect(missing.nameID).toBe(ok.nameID);
    const dup = (await (await signIn('carol', 'duplicate')).validate()).profile!;
    expect(dup.email).toBe(LOCAL);
    expect(dup.nameID).not.toBe(ok.nameID);
    const stale = (await (await signIn('carol', 'stale_group')).validate()).profile!;
    expect(ok.groups).toEqual(['sales', 'managers']);
    expect(stale.groups).toBe('sales'); // one value left
  });

  it('bad_signature, expired, unsigned and wrong_audience are each refused by the SP', async () => {
    await expect((await signIn('bob', 'bad_signature')).validate()).rejects.toThrow(/signature/i);
    await expect((await signIn('bob', 'expired')).validate()).rejects.toThrow(/expired|NotOnOrAfter|subject confirmation/i);
    await expect((await signIn('bob', 'unsigned')).validate()).rejects.toThrow(/signature/i);
    await expect((await signIn('bob', 'wrong_audience')).validate()).rejects.toThrow(/audience/i);
    // The same responses pass every other check: e.g. bad_signature's KeyInfo carries a certificate, just not the pinned one.
    const bad = Buffer.from((await signIn('bob', 'bad_signature')).SAMLResponse, 'base64').toString();
    const pinned = idp.certificatePem.replace(/-----[^-]+-----|\s/g, '');
    expect(bad).toContain('<ds:X509Certificate>');
    expect(bad).not.toContain(pinned);
  });

  it('signature_wrapping: a forged unsigned assertion before the genuine signed one is refused', async () => {
    // An SP that needs only a signed assertion (the setting XSW targets) must still refuse.
    const { validate, SAMLResponse } = await signIn('bob', 'signature_wrapping', sp({ wantAuthnResponseSigned: false }));
    const xml = Buffer.from(SAMLResponse, 'base64').toString();
    const assertions = xml.split('<saml:Assertion ').slice(1);
    expect(assertions).toHaveLength(2);
    expect(assertions[0]).toContain(LOCAL);
    expect(assertions[0]).not.toContain('<ds:Signature');
    expect(assertions[1]).toContain('bob@example.com');
    expect(assertions[1]).toContain('<ds:Signature');
    await expect(validate()).rejects.toThrow(/assertion|signature/i);
    // The same SP takes a genuine assertion-only-signed answer, so the refusal is about the wrapping.
    const genuine = await signIn('bob', 'ok', sp({ wantAuthnResponseSigned: false }));
    await expect(genuine.validate()).resolves.toBeTruthy();
  });

  it('replay: a fresh Response around the previous assertion ID; the same POST twice is refused', async () => {
    const first = await signIn('dave', 'ok');
    await first.validate();
    await expect(first.validate()).rejects.toThrow(/InResponseTo/); // posted twice
    const previousId = idp.emitted.at(-1)!.assertionId;
    const replay = await signIn('dave', 'replay');
    expect(idp.emitted.at(-1)!.assertionId).toBe(previousId);
    expect(idp.emitted.at(-1)!.inResponseTo).not.toBe(idp.emitted.at(-2)!.inResponseTo);
    // node-saml keeps no assertion-ID cache: it takes the replayed assertion. Tessera's replay cache must not.
    await expect(replay.validate()).resolves.toBeTruthy();
  });

  it('without a queued choice the picker asks; its form answers with the chosen persona and scenario', async () => {
    const saml = sp();
    const page = await start(saml);
    expect(page.html).toContain('Carol Chen');
    expect(page.html).not.toContain('<script');
    const request = fieldOf(page.html, 'request')!;
    const res = await fetch(idp.ssoUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ request, persona: 'carol', scenario: 'ok' }) });
    const html = await res.text();
    const { profile } = await saml.validatePostResponseAsync({ SAMLResponse: fieldOf(html, 'SAMLResponse')!, RelayState: 'rs-1' });
    expect(profile!.email).toBe('carol@example.org');
    // The handle is single use.
    const again = await fetch(idp.ssoUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ request, persona: 'carol', scenario: 'ok' }) });
    expect(again.status).toBe(400);
  });

  it('a service provider with the microsoft attribute profile gets the AD FS / Entra ID claim URIs', async () => {
    const entityId = 'http://rp.example/federation/adfs/saml/metadata';
    const acs = 'http://rp.example/federation/adfs/saml/acs';
    idp.registerServiceProvider({ entityId, acsUrls: [acs], attributeProfile: 'microsoft' });
    const { validate, SAMLResponse } = await signIn('alice', 'ok', sp({ issuer: entityId, audience: entityId, callbackUrl: acs }));
    expect(Buffer.from(SAMLResponse, 'base64').toString()).toContain('NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri"');
    const { profile } = await validate();
    expect(profile!['http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress']).toBe('alice@example.com');
    expect(profile!['http://schemas.microsoft.com/ws/2008/06/identity/claims/groups']).toEqual(['staff', 'admins']);
    expect(profile!['http://schemas.microsoft.com/identity/claims/tenantid']).toBe('acme');
    expect(profile).not.toHaveProperty('email');
  });

  it('an unknown service provider or an unregistered ACS is a 400 page, not a response', async () => {
    const stranger = await start(sp({ issuer: 'urn:unknown:sp' }));
    expect(stranger.status).toBe(400);
    expect(stranger.html).toContain('Unknown service provider');
    const elsewhere = await start(sp({ callbackUrl: 'http://evil.example/acs' }));
    expect(elsewhere.status).toBe(400);
    expect(elsewhere.html).toContain('not registered');
    expect((await fetch(`${idp.ssoUrl}?SAMLRequest=not-xml`)).status).toBe(400);
  });
});
