import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { inflateRawSync } from 'node:zlib';
import { DOMParser, type Element } from '@xmldom/xmldom';
import { selfSigned, type KeyAndCert } from './cert.js';
import { readForm, sendHtml } from './interaction.js';
import { errorPage, escapeHtml, page, pickerPage } from './pages.js';
import type { Persona } from './personas.js';
import {
  buildResponse, isSamlScenario, metadataXml, NS, SAML_SCENARIO_HELP, SAML_SCENARIOS, type AttributeProfile, type SamlScenario,
} from './saml-xml.js';

/** A service provider the mock IdP answers (Tessera: entity id and ACS of one SAML provider alias). */
export interface SamlServiceProvider {
  entityId: string;
  acsUrls: string[];
  /** Attribute names: `basic` (email, groups, ...; default) or `microsoft` (the AD FS / Entra ID claim URIs). */
  attributeProfile?: AttributeProfile;
  /** The SP's encryption certificate (PEM, from its metadata): assertions are encrypted to it. */
  encryptionCertificate?: string;
}

export interface SamlSignIn {
  persona: string;
  scenario: SamlScenario;
  sp: string;
  acs: string;
  inResponseTo: string;
  assertionId?: string;
  nameId?: string;
  attributes: Record<string, string[]>;
  /** The base64 SAMLResponse as posted to the ACS (tests replay it). */
  samlResponse: string;
  relayState?: string;
  at: number;
}

export interface MockSamlIdp {
  entityId: string;
  metadataUrl: string;
  /** SingleSignOnService for HTTP-Redirect (GET) and HTTP-POST (POST). */
  ssoUrl: string;
  /** The signing certificate (PEM), also in the metadata: pin it at the SP. */
  certificatePem: string;
  registerServiceProvider(sp: SamlServiceProvider): void;
  nextSignIn(persona: string, scenario?: SamlScenario): void;
  emitted: SamlSignIn[];
}

interface Pending { sp: SamlServiceProvider; acs: string; requestId: string; relayState?: string; wantEmail: boolean; expires: number }

const AUTO_SUBMIT = 'document.forms[0].submit()';
const AUTO_SUBMIT_HASH = createHash('sha256').update(AUTO_SUBMIT).digest('base64');
const MAX_PENDING = 10_000;

export async function createSamlIdp(o: {
  baseUrl: string; personas: Persona[]; localEmail: string; serviceProviders: SamlServiceProvider[];
}): Promise<MockSamlIdp & { handle(path: string, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> }> {
  const entityId = `${o.baseUrl}/saml/metadata`;
  const ssoUrl = `${o.baseUrl}/saml/sso`;
  const [key, rogue]: [KeyAndCert, KeyAndCert] = await Promise.all([selfSigned('Tessera mock SAML IdP'), selfSigned('Rogue key (not in the metadata)')]);
  const sps = new Map(o.serviceProviders.map((sp) => [sp.entityId, sp]));
  const pending = new Map<string, Pending>();
  const queue: { persona: string; scenario: SamlScenario }[] = [];
  const lastAssertion = new Map<string, string>();
  const emitted: SamlSignIn[] = [];

  /** Reads an AuthnRequest (deflated for HTTP-Redirect, plain for HTTP-POST). */
  function parseRequest(encoded: string, deflated: boolean): { p?: Omit<Pending, 'relayState' | 'expires'>; hint?: string; error?: string } {
    let xml: string;
    try {
      const raw = Buffer.from(encoded, 'base64');
      xml = (deflated ? inflateRawSync(raw) : raw).toString('utf8');
    } catch {
      return { error: 'SAMLRequest is not base64 (and, for HTTP-Redirect, DEFLATE) encoded.' };
    }
    let root: Element | undefined;
    try {
      root = new DOMParser({ onError: () => { throw new Error('bad xml'); } }).parseFromString(xml, 'text/xml').documentElement ?? undefined;
    } catch {
      return { error: 'SAMLRequest is not well-formed XML.' };
    }
    if (!root || root.localName !== 'AuthnRequest' || root.namespaceURI !== NS.protocol) return { error: 'SAMLRequest is not a SAML 2.0 AuthnRequest.' };
    const child = (el: Element, name: string) => Array.from(el.childNodes).find((n): n is Element => n.nodeType === 1 && (n as Element).localName === name);
    const requestId = root.getAttribute('ID') ?? '';
    const issuer = child(root, 'Issuer')?.textContent?.trim() ?? '';
    if (!/^[A-Za-z_][\w.-]{0,255}$/.test(requestId)) return { error: 'The AuthnRequest has no valid ID.' };
    const sp = sps.get(issuer);
    if (!sp) return { error: `Unknown service provider "${issuer}": register its entity id and ACS at the mock.` };
    const asked = root.getAttribute('AssertionConsumerServiceURL');
    if (asked && !sp.acsUrls.includes(asked)) return { error: `AssertionConsumerServiceURL ${asked} is not registered for ${issuer}.` };
    const policy = child(root, 'NameIDPolicy');
    const subject = child(root, 'Subject');
    const hint = subject ? child(subject, 'NameID')?.textContent?.trim() : undefined;
    return { p: { sp, acs: asked ?? sp.acsUrls[0]!, requestId, wantEmail: policy?.getAttribute('Format') === NS.email }, hint };
  }

  function picker(res: ServerResponse, handle: string, status = 200, error?: string): void {
    sendHtml(res, status, pickerPage({
      mockLabel: 'Mock SAML IdP', action: '/saml/sso', clientId: pending.get(handle)?.sp.entityId ?? '', redirectUri: pending.get(handle)?.acs,
      personas: o.personas, scenarios: SAML_SCENARIOS, help: SAML_SCENARIO_HELP, hidden: { request: handle }, error,
      skipHint: 'Scripts skip this page with a Subject NameID of <code>persona:scenario</code> in the AuthnRequest, or nextSignIn() in tests.',
    }));
  }

  async function answer(res: ServerResponse, handle: string, personaId: string | undefined, scenario: SamlScenario): Promise<void> {
    const req = pending.get(handle)!;
    pending.delete(handle); // one answer per request
    const persona = o.personas.find((p) => p.id === personaId) ?? o.personas[0]!;
    const lastKey = `${req.sp.entityId} ${persona.id}`;
    const built = await buildResponse({
      idpEntityId: entityId, spEntityId: req.sp.entityId, acs: req.acs, inResponseTo: req.requestId, persona,
      scenario: personaId ? scenario : 'deny', localEmail: o.localEmail, wantEmailNameId: req.wantEmail,
      replayAssertionId: lastAssertion.get(lastKey), key, rogue, attributeProfile: req.sp.attributeProfile,
      ...(req.sp.encryptionCertificate ? { encryptTo: req.sp.encryptionCertificate } : {}),
    });
    if (built.assertionId) lastAssertion.set(lastKey, built.assertionId);
    const samlResponse = Buffer.from(built.xml, 'utf8').toString('base64');
    emitted.push({
      persona: persona.id, scenario: personaId ? scenario : 'deny', sp: req.sp.entityId, acs: req.acs, inResponseTo: req.requestId,
      assertionId: built.assertionId, nameId: built.nameId, attributes: built.attributes, samlResponse, relayState: req.relayState, at: Date.now(),
    });
    if (emitted.length > MAX_PENDING) emitted.shift();
    // HTTP-POST binding: a form to the ACS, sent by a script allowed by its hash, or by the button.
    sendHtml(res, 200, page('Signing in', `<h1>Returning to ${escapeHtml(req.sp.entityId)}</h1>`
      + `<form method="post" action="${escapeHtml(req.acs)}"><input type="hidden" name="SAMLResponse" value="${samlResponse}">`
      + (req.relayState !== undefined ? `<input type="hidden" name="RelayState" value="${escapeHtml(req.relayState)}">` : '')
      + `<button type="submit">Continue</button></form><script>${AUTO_SUBMIT}</script>`), [new URL(req.acs).origin], AUTO_SUBMIT_HASH);
  }

  async function handle(path: string, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    if (path === '/metadata' && (req.method === 'GET' || req.method === 'HEAD')) {
      res.writeHead(200, { 'content-type': 'application/samlmetadata+xml; charset=utf-8', 'cache-control': 'no-cache' });
      res.end(metadataXml(entityId, ssoUrl, key));
      return;
    }
    if (path !== '/sso') return sendHtml(res, 404, errorPage('Not found', 'The mock SAML IdP serves /saml/metadata and /saml/sso.'));
    let form: URLSearchParams | undefined;
    if (req.method === 'POST') {
      form = await readForm(req);
      if (!form) return sendHtml(res, 400, errorPage('Bad request', 'Send application/x-www-form-urlencoded.'));
    } else if (req.method !== 'GET') {
      res.writeHead(405, { allow: 'GET, POST' }).end();
      return;
    }
    const handleId = form?.get('request');
    if (handleId) {
      // The picker's answer.
      const p = pending.get(handleId);
      if (!p || p.expires < Date.now()) return sendHtml(res, 400, errorPage('Sign-in expired', 'This sign-in is unknown, used or expired. Start again from the application.'));
      if (form!.get('cancel')) return answer(res, handleId, undefined, 'deny');
      const persona = form!.get('persona') ?? '';
      const scenario = form!.get('scenario') ?? 'ok';
      if (!o.personas.some((x) => x.id === persona)) return picker(res, handleId, 400, `Unknown persona "${persona}".`);
      if (!isSamlScenario(scenario)) return picker(res, handleId, 400, `Scenario "${scenario}" is not one of: ${SAML_SCENARIOS.join(', ')}.`);
      return answer(res, handleId, persona, scenario);
    }
    // A new AuthnRequest: HTTP-Redirect (GET, deflated) or HTTP-POST (form, not deflated).
    const encoded = form ? form.get('SAMLRequest') : url.searchParams.get('SAMLRequest');
    if (!encoded) return sendHtml(res, 400, errorPage('No SAMLRequest', 'This is the SSO endpoint: send an AuthnRequest (HTTP-Redirect or HTTP-POST).'));
    const parsed = parseRequest(encoded, !form);
    if (!parsed.p) return sendHtml(res, 400, errorPage('Bad AuthnRequest', parsed.error!));
    const relayState = (form ? form.get('RelayState') : url.searchParams.get('RelayState')) ?? undefined;
    const id = randomBytes(16).toString('base64url');
    if (pending.size >= MAX_PENDING) pending.delete(pending.keys().next().value!);
    pending.set(id, { ...parsed.p, relayState, expires: Date.now() + 10 * 60_000 });
    const queued = queue.shift();
    if (queued) return answer(res, id, queued.persona, queued.scenario);
    if (parsed.hint) {
      const [who, scenario = 'ok'] = parsed.hint.split(':');
      const persona = o.personas.find((p) => p.id === who || p.email === who);
      if (persona && isSamlScenario(scenario)) return answer(res, id, persona.id, scenario);
      if (parsed.hint.includes(':')) return picker(res, id, 400, `Subject hint "${parsed.hint}": unknown persona or scenario.`);
    }
    return picker(res, id);
  }

  return {
    entityId, metadataUrl: entityId, ssoUrl, certificatePem: key.certificatePem, emitted, handle,
    registerServiceProvider(sp) {
      sps.set(sp.entityId, { ...sp, acsUrls: [...sp.acsUrls] });
    },
    nextSignIn(persona, scenario = 'ok') {
      if (!o.personas.some((p) => p.id === persona)) throw new Error(`unknown persona ${persona}`);
      if (!isSamlScenario(scenario)) throw new Error(`unknown SAML scenario ${scenario}`);
      queue.push({ persona, scenario });
    },
  };
}
