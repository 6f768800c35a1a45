import { randomBytes, randomUUID, X509Certificate } from 'node:crypto';
import { SignedXml } from 'xml-crypto';
import { encrypt } from 'xml-encryption';
import type { KeyAndCert } from './cert.js';
import { nameParts, uuidFor, type Persona } from './personas.js';

/** What a SAML sign-in at the mock IdP does (docs/mock-providers.md has the table). */
export const SAML_SCENARIOS = [
  'ok', 'deny', 'missing_email', 'duplicate', 'stale_group', 'bad_signature', 'expired', 'replay', 'unsigned', 'wrong_audience',
  'signature_wrapping',
] as const;
export type SamlScenario = (typeof SAML_SCENARIOS)[number];

export const SAML_SCENARIO_HELP: Record<SamlScenario, string> = {
  ok: 'a signed Response with a signed Assertion for the persona',
  deny: 'a Responder/AuthnFailed status, no assertion',
  missing_email: 'no email attribute; NameID persistent',
  duplicate: 'a new persistent NameID carrying the email of a local account',
  stale_group: 'groups have shrunk since the last sign-in',
  bad_signature: 'signed with a key whose certificate is not in the metadata (it is in KeyInfo)',
  expired: 'validly signed, but NotOnOrAfter lies in the past',
  replay: 'a fresh Response around the assertion ID of this persona\'s previous sign-in',
  unsigned: 'neither the Response nor the Assertion is signed',
  wrong_audience: 'validly signed, for another audience',
  signature_wrapping: 'an unsigned forged assertion (the local account\'s email) placed before the genuine signed one',
};

export function isSamlScenario(s: string): s is SamlScenario {
  return (SAML_SCENARIOS as readonly string[]).includes(s);
}

export const NS = {
  protocol: 'urn:oasis:names:tc:SAML:2.0:protocol',
  assertion: 'urn:oasis:names:tc:SAML:2.0:assertion',
  metadata: 'urn:oasis:names:tc:SAML:2.0:metadata',
  persistent: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
  email: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',
  redirect: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect',
  post: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST',
};
/** The AuthnContext AD FS and Entra ID send after a second factor, and the plain password one. */
const MFA_CONTEXT = 'http://schemas.microsoft.com/claims/multipleauthn';
const PASSWORD_CONTEXT = 'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport';

export const xmlEscape = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
const newId = () => `_${randomBytes(20).toString('hex')}`;
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

export function metadataXml(entityId: string, ssoUrl: string, cert: KeyAndCert): string {
  return `<?xml version="1.0" encoding="UTF-8"?>`
    + `<md:EntityDescriptor xmlns:md="${NS.metadata}" entityID="${xmlEscape(entityId)}">`
    + `<md:IDPSSODescriptor WantAuthnRequestsSigned="false" protocolSupportEnumeration="${NS.protocol}">`
    + `<md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data>`
    + `<ds:X509Certificate>${cert.certificateBase64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>`
    + `<md:NameIDFormat>${NS.persistent}</md:NameIDFormat><md:NameIDFormat>${NS.email}</md:NameIDFormat>`
    + `<md:SingleSignOnService Binding="${NS.redirect}" Location="${xmlEscape(ssoUrl)}"/>`
    + `<md:SingleSignOnService Binding="${NS.post}" Location="${xmlEscape(ssoUrl)}"/>`
    + `</md:IDPSSODescriptor></md:EntityDescriptor>`;
}

/** How attributes are named: plain names, or the claim URIs AD FS and Entra ID send. */
export type AttributeProfile = 'basic' | 'microsoft';

const MICROSOFT_NAMES: Record<string, string> = {
  email: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress',
  givenName: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname',
  surname: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname',
  displayName: 'http://schemas.microsoft.com/identity/claims/displayname',
  groups: 'http://schemas.microsoft.com/ws/2008/06/identity/claims/groups',
  tenant: 'http://schemas.microsoft.com/identity/claims/tenantid',
};

export interface ResponseInput {
  idpEntityId: string;
  spEntityId: string;
  acs: string;
  inResponseTo: string;
  persona: Persona;
  scenario: SamlScenario;
  localEmail: string;
  wantEmailNameId: boolean;
  /** The assertion ID to reuse (replay). */
  replayAssertionId?: string;
  key: KeyAndCert;
  rogue: KeyAndCert;
  attributeProfile?: AttributeProfile;
  /** The SP's encryption certificate (PEM): the signed assertion is sent as an EncryptedAssertion to it. */
  encryptTo?: string;
}

export interface BuiltResponse {
  xml: string;
  assertionId?: string;
  nameId?: string;
  attributes: Record<string, string[]>;
}

/**
 * Builds and signs a Response for one sign-in (signatures: Assertion first, then Response, RSA-SHA256, exc-c14n);
 * with `encryptTo`, the signed assertion is encrypted (AES-256-GCM, RSA-OAEP) before the Response is signed.
 */
export async function buildResponse(i: ResponseInput): Promise<BuiltResponse> {
  const now = Date.now();
  const t = i.scenario === 'expired' ? now - 10 * 60_000 : now;
  const responseId = newId();
  const status = i.scenario === 'deny'
    ? `<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Responder"><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:AuthnFailed"/></samlp:StatusCode><samlp:StatusMessage>The user denied the request (mock scenario deny).</samlp:StatusMessage></samlp:Status>`
    : `<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>`;
  const head = `<samlp:Response xmlns:samlp="${NS.protocol}" xmlns:saml="${NS.assertion}" ID="${responseId}" Version="2.0" IssueInstant="${iso(t)}" Destination="${xmlEscape(i.acs)}" InResponseTo="${xmlEscape(i.inResponseTo)}">`
    + `<saml:Issuer>${xmlEscape(i.idpEntityId)}</saml:Issuer>${status}`;
  if (i.scenario === 'deny') {
    return { xml: sign(`${head}</samlp:Response>`, 'Response', i.key), attributes: {} };
  }

  const p = i.persona;
  const email = i.scenario === 'missing_email' ? undefined : i.scenario === 'duplicate' ? i.localEmail : p.email;
  const persistent = i.scenario === 'duplicate' ? uuidFor(`saml:${p.id}:${randomUUID()}`) : uuidFor(`saml:${p.id}`);
  const [nameId, format] = i.wantEmailNameId && email ? [email, NS.email] : [persistent, NS.persistent];
  const drop = i.scenario === 'stale_group' ? (p.stale_groups ?? p.groups.slice(-1)) : [];
  const { given, family } = nameParts(p);
  const attributes: Record<string, string[]> = {
    ...(email ? { email: [email] } : {}),
    givenName: [given], ...(family ? { surname: [family] } : {}), displayName: [p.name],
    groups: p.groups.filter((g) => !drop.includes(g)),
    ...(p.tenant ? { tenant: [p.tenant] } : {}),
  };
  const assertionId = i.scenario === 'replay' && i.replayAssertionId ? i.replayAssertionId : newId();
  const audience = i.scenario === 'wrong_audience' ? 'urn:mock:another-service-provider' : i.spEntityId;
  const until = iso(i.scenario === 'expired' ? now - 5 * 60_000 : now + 5 * 60_000);
  const microsoft = i.attributeProfile === 'microsoft';
  const nameFormat = `urn:oasis:names:tc:SAML:2.0:attrname-format:${microsoft ? 'uri' : 'basic'}`;
  const attrXml = Object.entries(attributes).filter(([, v]) => v.length).map(([name, values]) =>
    `<saml:Attribute Name="${microsoft ? MICROSOFT_NAMES[name] ?? name : name}" NameFormat="${nameFormat}">`
    + values.map((v) => `<saml:AttributeValue xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="xs:string">${xmlEscape(v)}</saml:AttributeValue>`).join('')
    + '</saml:Attribute>').join('');
  const assertion = `<saml:Assertion xmlns:saml="${NS.assertion}" ID="${assertionId}" Version="2.0" IssueInstant="${iso(t)}">`
    + `<saml:Issuer>${xmlEscape(i.idpEntityId)}</saml:Issuer>`
    + `<saml:Subject><saml:NameID Format="${format}">${xmlEscape(nameId)}</saml:NameID>`
    + `<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData InResponseTo="${xmlEscape(i.inResponseTo)}" NotOnOrAfter="${until}" Recipient="${xmlEscape(i.acs)}"/></saml:SubjectConfirmation></saml:Subject>`
    + `<saml:Conditions NotBefore="${iso(t - 60_000)}" NotOnOrAfter="${until}"><saml:AudienceRestriction><saml:Audience>${xmlEscape(audience)}</saml:Audience></saml:AudienceRestriction></saml:Conditions>`
    + `<saml:AuthnStatement AuthnInstant="${iso(t)}" SessionIndex="${newId()}"><saml:AuthnContext><saml:AuthnContextClassRef>${p.mfa ? MFA_CONTEXT : PASSWORD_CONTEXT}</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>`
    + (attrXml ? `<saml:AttributeStatement>${attrXml}</saml:AttributeStatement>` : '')
    + '</saml:Assertion>';
  if (i.scenario === 'signature_wrapping') {
    // XML signature wrapping (XSW): the genuine assertion keeps its valid signature, and a forged,
    // unsigned one for another identity comes first, where a careless SP reads. The Response
    // itself stays unsigned (a signature over it would break with the insertion).
    const genuine = sign(`${head}${assertion}</samlp:Response>`, 'Assertion', i.key);
    const forged = assertion
      .replace(` ID="${assertionId}"`, ` ID="${newId()}"`)
      .replace(`>${xmlEscape(nameId)}</saml:NameID>`, `>${xmlEscape(i.localEmail)}</saml:NameID>`)
      .replace(email ? `>${xmlEscape(email)}</saml:AttributeValue>` : '\u0000', `>${xmlEscape(i.localEmail)}</saml:AttributeValue>`);
    return { xml: genuine.replace('<saml:Assertion ', `${forged}<saml:Assertion `), assertionId, nameId, attributes };
  }
  let xml = `${head}${assertion}</samlp:Response>`;
  const key = i.scenario === 'bad_signature' ? i.rogue : i.key;
  if (i.scenario !== 'unsigned') xml = sign(xml, 'Assertion', key);
  if (i.encryptTo) {
    const plain = /<saml:Assertion [\s\S]*<\/saml:Assertion>/.exec(xml)![0];
    xml = xml.replace(plain, `<saml:EncryptedAssertion>${await encryptFor(plain, i.encryptTo)}</saml:EncryptedAssertion>`);
  }
  if (i.scenario !== 'unsigned') xml = sign(xml, 'Response', key);
  return { xml, assertionId, nameId, attributes };
}

/** XML Encryption of an assertion to an SP's certificate (what AD FS does with the SP's encryption certificate). */
function encryptFor(xml: string, certificate: string): Promise<string> {
  // PEM as metadata tools copy it (wrapped anyhow, or bare base64): re-wrapped at 64 characters.
  const body = certificate.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
  const certificatePem = `-----BEGIN CERTIFICATE-----\n${body.match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`;
  const rsaPub = new X509Certificate(certificatePem).publicKey.export({ type: 'spki', format: 'pem' }).toString();
  return new Promise((resolve, reject) => {
    encrypt(xml, {
      rsa_pub: rsaPub, pem: certificatePem,
      encryptionAlgorithm: 'http://www.w3.org/2009/xmlenc11#aes256-gcm',
      keyEncryptionAlgorithm: 'http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p',
      disallowEncryptionWithInsecureAlgorithm: true,
    }, (err, out) => (err ? reject(err) : resolve(out)));
  });
}

/** An enveloped XML signature on the named element, placed right after its Issuer (as the schema wants). */
function sign(xml: string, element: 'Assertion' | 'Response', key: KeyAndCert): string {
  const path = element === 'Response' ? "/*[local-name(.)='Response']" : "//*[local-name(.)='Assertion']";
  const sig = new SignedXml({
    privateKey: key.privateKeyPem,
    publicCert: key.certificatePem,
    signatureAlgorithm: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
    canonicalizationAlgorithm: 'http://www.w3.org/2001/10/xml-exc-c14n#',
  });
  sig.addReference({
    xpath: path,
    digestAlgorithm: 'http://www.w3.org/2001/04/xmlenc#sha256',
    transforms: ['http://www.w3.org/2000/09/xmldsig#enveloped-signature', 'http://www.w3.org/2001/10/xml-exc-c14n#'],
  });
  sig.computeSignature(xml, { prefix: 'ds', location: { reference: `${path}/*[local-name(.)='Issuer']`, action: 'after' } });
  return sig.getSignedXml();
}
