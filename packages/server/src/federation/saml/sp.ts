import { randomBytes } from 'node:crypto';
import type { CacheProvider, Profile, SAML } from '@node-saml/node-saml';
import type { Element } from '@xmldom/xmldom';
import { commonJs, lazy } from '../../startup/lazy.js';
import type { ErrorCode } from '../../http/errors.js';
import type { SpKeys } from './keys.js';
import type { IdpInfo } from './idp.js';
import { NAME_ID_FORMATS } from './config.js';
import type { SamlFields } from './config.js';

// node-saml (with xml-crypto, xml-encryption, xpath…) and xmldom load with the first SAML request, not at
// start: most deployments have no SAML provider (issue 20; docs/performance.md#loading-on-first-use).
const nodeSaml = lazy(async () => commonJs(await import('@node-saml/node-saml')));
const xmldom = lazy(async () => commonJs(await import('@xmldom/xmldom')));

/**
 * Tessera as a SAML 2.0 service provider, with @node-saml/node-saml for the
 * protocol (AuthnRequest over HTTP-Redirect, XML signature verification
 * against the pinned IdP certificates only, decryption, Conditions,
 * Audience, SubjectConfirmation InResponseTo) and these checks of its own,
 * on what the signature covers: the assertion's Issuer, exactly one assertion in the whole
 * document (signature wrapping hides a forged one elsewhere), `Destination`
 * and the bearer `Recipient` equal to this ACS (SAML profiles §4.1.4.3),
 * and the assertion id once (saml/routes.ts, the shared replay cache).
 */

export const acsPath = (alias: string) => `/federation/${alias}/saml/acs`;
export const metadataPath = (alias: string) => `/federation/${alias}/saml/metadata`;

export interface SpContext {
  alias: string;
  /** Tessera's issuer (the base of the ACS and metadata URLs). */
  issuer: string;
  settings: SamlFields;
  idp: IdpInfo;
  keys: SpKeys;
}

export const spEntityId = (c: Pick<SpContext, 'alias' | 'issuer'> & { settings: Pick<SamlFields, 'sp_entity_id'> }) =>
  c.settings.sp_entity_id ?? `${c.issuer}${metadataPath(c.alias)}`;
export const acsUrl = (c: Pick<SpContext, 'alias' | 'issuer'>) => `${c.issuer}${acsPath(c.alias)}`;

/** Why a response was refused: the stable code of the error page and audit entry, and a detail for the log. */
export class SamlRefusal extends Error {
  constructor(readonly code: ErrorCode, detail: string) {
    super(detail);
    this.name = 'SamlRefusal';
  }
}

/** node-saml keeps request ids in a cache; here the one id the interaction's flow expects is the only one it knows. */
function expecting(requestId: string | null): CacheProvider {
  return {
    saveAsync: async () => null,
    getAsync: async (key) => (requestId !== null && key === requestId ? new Date().toISOString() : null),
    removeAsync: async () => null,
  };
}

async function samlOf(c: SpContext, o: { requestId?: string; expect?: string | null }): Promise<SAML> {
  const s = c.settings;
  const { SAML, ValidateInResponseTo } = await nodeSaml();
  return new SAML({
    issuer: spEntityId(c),
    callbackUrl: acsUrl(c),
    entryPoint: c.idp.ssoUrl,
    idpCert: c.idp.certificates,
    idpIssuer: c.idp.entityId,
    audience: spEntityId(c),
    identifierFormat: NAME_ID_FORMATS[s.name_id_format],
    // Either signature will do (an IdP signs the Response, the Assertion, or both), unless the assertion's own is wanted.
    wantAuthnResponseSigned: false,
    wantAssertionsSigned: s.want_assertions_signed,
    acceptedClockSkewMs: s.clock_skew_seconds * 1000,
    // No RequestedAuthnContext: AD FS with Windows authentication or Entra ID with MFA would refuse PasswordProtectedTransport only.
    disableRequestedAuthnContext: true,
    ...(s.sign_requests ? { privateKey: c.keys.signing.privateKeyPem, signatureAlgorithm: 'sha256' as const } : {}),
    decryptionPvk: c.keys.encryption.privateKeyPem,
    validateInResponseTo: o.expect === null ? ValidateInResponseTo.never : ValidateInResponseTo.always,
    cacheProvider: expecting(o.expect ?? null),
    requestIdExpirationPeriodMs: 10 * 60_000,
    generateUniqueId: () => o.requestId ?? newRequestId(),
  });
}

/** An AuthnRequest id: 160 random bits, starting with a letter or "_" as xs:ID needs. */
export const newRequestId = () => `_${randomBytes(20).toString('hex')}`;

/** An AuthnRequest for the HTTP-Redirect binding; `requestId` is kept with the interaction's flow (InResponseTo). */
export async function authnRequestUrl(c: SpContext, relayState: string, requestId: string): Promise<string> {
  return (await samlOf(c, { requestId })).getAuthorizeUrlAsync(relayState, undefined, {});
}

/** The SP metadata the IdP is given: entity id, ACS (HTTP-POST), signing and encryption certificates, NameID format. Needs nothing of the IdP. */
export async function spMetadata(c: Omit<SpContext, 'idp'>): Promise<string> {
  // node-saml wants an IdP to build its SP object; the metadata uses none of it.
  const idp = { entityId: 'urn:unused', ssoUrl: 'https://unused.invalid/', certificates: [c.keys.signing.certificatePem] };
  return (await samlOf({ ...c, idp }, {})).generateServiceProviderMetadata(c.keys.encryption.certificatePem, c.keys.signing.certificatePem);
}

const NS = { protocol: 'urn:oasis:names:tc:SAML:2.0:protocol', assertion: 'urn:oasis:names:tc:SAML:2.0:assertion' };
const BEARER = 'urn:oasis:names:tc:SAML:2.0:cm:bearer';
/** Status codes that mean "the person did not sign in" (cancelled, refused): the client gets access_denied. */
const DENIED = ['AuthnFailed', 'RequestDenied', 'NoPassive', 'NoAvailableIDP', 'UnknownPrincipal'];

async function parse(xml: string): Promise<Element> {
  const { DOMParser } = await xmldom();
  const doc = new DOMParser({ onError: (level, msg) => { if (level !== 'warning') throw new Error(msg); } }).parseFromString(xml, 'text/xml');
  if (!doc.documentElement) throw new Error('empty document');
  return doc.documentElement;
}
const all = (root: Element, ns: string, name: string): Element[] => Array.from(root.getElementsByTagNameNS(ns, name));

/** What the raw response says before any check: enough to route it (solicited or not). */
export async function peek(samlResponse: string): Promise<{ inResponseTo?: string }> {
  try {
    const root = await parse(Buffer.from(samlResponse, 'base64').toString('utf8'));
    return { inResponseTo: root.getAttribute('InResponseTo') || undefined };
  } catch {
    return {};
  }
}

export interface ValidAssertion {
  assertionId: string;
  /** When the assertion stops being usable (its replay record may go then). */
  notOnOrAfter: number;
  nameId: string;
  nameIdFormat?: string;
  attributes: Record<string, unknown>;
  authnContext?: string;
}

/**
 * Validates a posted SAMLResponse. `expect`: the request id of the
 * interaction's flow, or null for an IdP-initiated response (which then must
 * not claim to answer any request).
 * @throws SamlRefusal; `access_denied` when the IdP reports that the person did not sign in.
 */
export async function validateResponse(c: SpContext, samlResponse: string, expect: string | null, now = Date.now()): Promise<ValidAssertion> {
  let root: Element;
  try {
    root = await parse(Buffer.from(samlResponse, 'base64').toString('utf8'));
  } catch (err) {
    throw new SamlRefusal('upstream_invalid_response', `SAMLResponse is not base64 XML: ${(err as Error).message.slice(0, 100)}`);
  }
  if (root.localName !== 'Response' || root.namespaceURI !== NS.protocol) throw new SamlRefusal('upstream_invalid_response', 'not a SAML 2.0 Response');
  const inResponseTo = root.getAttribute('InResponseTo') || null;
  if (expect === null && inResponseTo) throw new SamlRefusal('federation_state_invalid', 'an unsolicited response that names a request');
  if (expect !== null && inResponseTo !== expect) throw new SamlRefusal('federation_state_invalid', inResponseTo ? 'InResponseTo names another request' : 'InResponseTo is missing');
  const destination = root.getAttribute('Destination');
  if (destination && destination !== acsUrl(c)) throw new SamlRefusal('upstream_invalid_token', `Destination ${destination.slice(0, 200)} is not this ACS`);
  // Signature wrapping: one assertion, wherever it may hide (Extensions, ds:Object, inside another assertion).
  const count = all(root, NS.assertion, 'Assertion').length + all(root, NS.assertion, 'EncryptedAssertion').length;
  if (count > 1) throw new SamlRefusal('upstream_invalid_token', `${count} assertions in one response (signature wrapping?)`);
  if (c.settings.want_assertions_encrypted && count === 1 && !all(root, NS.assertion, 'EncryptedAssertion').length) {
    throw new SamlRefusal('upstream_invalid_token', 'the assertion is not encrypted (want_assertions_encrypted)');
  }

  let profile: Profile | null;
  try {
    ({ profile } = await (await samlOf(c, { expect })).validatePostResponseAsync({ SAMLResponse: samlResponse }));
  } catch (err) {
    const message = (err as Error).message ?? String(err);
    const status = /SAML provider returned (\w+) error: (.*)$/.exec(message);
    if (status) {
      const sub = all(root, NS.protocol, 'StatusCode').map((e) => e.getAttribute('Value')?.split(':').pop() ?? '');
      if (sub.some((v) => DENIED.includes(v))) throw new SamlRefusal('access_denied', `IdP status ${sub.join('/')}`);
      throw new SamlRefusal('upstream_error', `IdP status ${sub.join('/')}: ${status[2]!.slice(0, 150)}`);
    }
    if (/InResponseTo/i.test(message)) throw new SamlRefusal('federation_state_invalid', message);
    throw new SamlRefusal('upstream_invalid_token', message.slice(0, 300));
  }
  if (!profile) throw new SamlRefusal('upstream_invalid_response', 'no assertion');
  // From here on, only what the signature covers.
  const assertion = await parse(profile.getAssertionXml!());
  // node-saml checks idpIssuer on logout messages only: the assertion's Issuer is checked here.
  const issuer = Array.from(assertion.childNodes).find((n): n is Element => n.nodeType === 1 && (n as Element).localName === 'Issuer')?.textContent?.trim();
  if (issuer !== c.idp.entityId) throw new SamlRefusal('upstream_invalid_token', `Issuer ${String(issuer).slice(0, 200)} is not the IdP's entity id`);
  const assertionId = assertion.getAttribute('ID') ?? '';
  if (!assertionId) throw new SamlRefusal('upstream_invalid_token', 'the assertion has no ID');
  const bearer = all(assertion, NS.assertion, 'SubjectConfirmation').filter((e) => e.getAttribute('Method') === BEARER)
    .flatMap((e) => all(e, NS.assertion, 'SubjectConfirmationData'));
  const acs = acsUrl(c);
  const confirmation = bearer.find((d) => d.getAttribute('Recipient') === acs);
  if (!confirmation) throw new SamlRefusal('upstream_invalid_token', 'no bearer SubjectConfirmation with this ACS as Recipient');
  const until = [confirmation.getAttribute('NotOnOrAfter'), all(assertion, NS.assertion, 'Conditions')[0]?.getAttribute('NotOnOrAfter')]
    .map((v) => (v ? Date.parse(v) : NaN)).filter((v) => Number.isFinite(v));
  // SAML profiles §4.1.4.2: a bearer assertion must have an expiry; without one the replay record could never end.
  if (!until.length) throw new SamlRefusal('upstream_invalid_token', 'the assertion has no NotOnOrAfter');
  const nameId = profile.nameID;
  if (!nameId) throw new SamlRefusal('upstream_invalid_response', 'the assertion has no NameID');
  const authnContext = all(assertion, NS.assertion, 'AuthnContextClassRef')[0]?.textContent?.trim() || undefined;
  return {
    assertionId, notOnOrAfter: Math.max(...until, now) + c.settings.clock_skew_seconds * 1000, nameId, nameIdFormat: profile.nameIDFormat,
    attributes: (profile.attributes as Record<string, unknown> | undefined) ?? {}, authnContext,
  };
}
