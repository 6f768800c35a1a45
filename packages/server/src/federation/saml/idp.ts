import { X509Certificate } from 'node:crypto';
import type { Element } from '@xmldom/xmldom';
import { UpstreamError } from '../upstream.js';
import type { StoredProvider } from '../providers.js';
import type { SamlFields } from './config.js';
import { commonJs, lazy } from '../../startup/lazy.js';

// Loaded with the first metadata to read, not at start (issue 20).
const xmldom = lazy(async () => commonJs(await import('@xmldom/xmldom')));

/**
 * What Tessera needs of a SAML IdP: its entity id (the Issuer it must
 * send), its HTTP-Redirect SingleSignOnService, and its signing
 * certificates (pinned: a response signed by any other key is refused,
 * whatever KeyInfo it carries). From metadata (by URL, refetched hourly,
 * or inline) or from the declaration's idp_* fields.
 */
export interface IdpInfo {
  entityId: string;
  ssoUrl: string;
  /** PEM. */
  certificates: string[];
}

const MD = 'urn:oasis:names:tc:SAML:2.0:metadata';
const DS = 'http://www.w3.org/2000/09/xmldsig#';
const REDIRECT = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect';
const REFRESH_MS = 60 * 60_000;
/** After a failed fetch, the last good metadata is used; the next try waits this long. */
const RETRY_MS = 60_000;

/** A certificate as PEM, from PEM or base64 DER; checked to parse. */
export function toPem(cert: string): string {
  const body = cert.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
  const pem = `-----BEGIN CERTIFICATE-----\n${body.match(/.{1,64}/g)?.join('\n') ?? ''}\n-----END CERTIFICATE-----\n`;
  new X509Certificate(pem); // throws on garbage
  return pem;
}

const elements = (root: Element, ns: string, name: string): Element[] => Array.from(root.getElementsByTagNameNS(ns, name));

/**
 * Reads an IdP's EntityDescriptor.
 * @throws Error with a message for the administrator.
 */
export async function parseIdpMetadata(xml: string): Promise<IdpInfo> {
  const { DOMParser } = await xmldom();
  let doc;
  try {
    doc = new DOMParser({ onError: (level, msg) => { if (level !== 'warning') throw new Error(msg); } }).parseFromString(xml, 'text/xml');
  } catch (err) {
    throw new Error(`the metadata is not well-formed XML (${(err as Error).message.slice(0, 120)})`);
  }
  const root = doc.documentElement;
  if (!root) throw new Error('the metadata is empty');
  // An EntitiesDescriptor with one entity is accepted too (some federations publish that way).
  const entity = root.localName === 'EntityDescriptor' && root.namespaceURI === MD ? root : elements(root, MD, 'EntityDescriptor')[0];
  const idp = entity && elements(entity, MD, 'IDPSSODescriptor')[0];
  if (!entity || !idp) throw new Error('the metadata has no EntityDescriptor with an IDPSSODescriptor');
  const entityId = entity.getAttribute('entityID') ?? '';
  if (!entityId) throw new Error('the EntityDescriptor has no entityID');
  const sso = elements(idp, MD, 'SingleSignOnService').find((e) => e.getAttribute('Binding') === REDIRECT)?.getAttribute('Location');
  if (!sso) throw new Error('the IdP has no SingleSignOnService for the HTTP-Redirect binding');
  const certificates = elements(idp, MD, 'KeyDescriptor')
    .filter((k) => (k.getAttribute('use') ?? 'signing') === 'signing')
    .flatMap((k) => elements(k, DS, 'X509Certificate').map((c) => c.textContent ?? ''))
    .filter(Boolean)
    .map((c) => {
      try {
        return toPem(c);
      } catch {
        throw new Error('the metadata has a signing certificate that does not parse');
      }
    });
  if (!certificates.length) throw new Error('the metadata has no signing certificate');
  return { entityId, ssoUrl: sso, certificates: [...new Set(certificates)] };
}

interface Cached { version: number; info: IdpInfo; fetchedAt: number; retryAt?: number }

export class IdpDirectory {
  private readonly cache = new Map<string, Cached>();

  /**
   * The IdP of a provider.
   * @throws UpstreamError upstream_unavailable / upstream_timeout / upstream_invalid_response when its metadata cannot be had.
   */
  async info(p: StoredProvider, s: SamlFields, now = Date.now()): Promise<IdpInfo> {
    const cached = this.cache.get(p.alias);
    if (cached && cached.version === p.updatedAt) {
      const fresh = !s.idp_metadata_url || now - cached.fetchedAt < REFRESH_MS || (cached.retryAt !== undefined && now < cached.retryAt);
      if (fresh) return cached.info;
    }
    let info: IdpInfo;
    try {
      info = await this.resolve(p, s);
    } catch (err) {
      // A metadata URL that fails once does not stop sign-ins: the last good copy serves a while longer.
      if (cached && cached.version === p.updatedAt) {
        cached.retryAt = now + RETRY_MS;
        return cached.info;
      }
      throw err;
    }
    this.cache.set(p.alias, { version: p.updatedAt, info, fetchedAt: now });
    return info;
  }

  private async resolve(p: StoredProvider, s: SamlFields): Promise<IdpInfo> {
    if (s.idp_metadata_xml) return this.parse(s.idp_metadata_xml);
    if (s.idp_metadata_url) {
      let res: Response;
      try {
        res = await fetch(s.idp_metadata_url, { signal: AbortSignal.timeout(p.timeout_seconds * 1000), redirect: 'follow', headers: { accept: 'application/samlmetadata+xml, application/xml, text/xml' } });
      } catch (err) {
        const name = (err as Error).name;
        throw new UpstreamError(name === 'TimeoutError' || name === 'AbortError' ? 'upstream_timeout' : 'upstream_unavailable', `IdP metadata ${s.idp_metadata_url}: ${(err as Error).message}`);
      }
      if (!res.ok) throw new UpstreamError('upstream_unavailable', `IdP metadata ${s.idp_metadata_url} answered ${res.status}`);
      const text = await res.text();
      if (text.length > 1_048_576) throw new UpstreamError('upstream_invalid_response', 'IdP metadata larger than 1 MiB');
      return this.parse(text);
    }
    try {
      return { entityId: s.idp_entity_id!, ssoUrl: s.idp_sso_url!, certificates: s.idp_certificates!.map(toPem) };
    } catch {
      throw new UpstreamError('upstream_invalid_response', 'idp_certificates: a certificate does not parse');
    }
  }

  private async parse(xml: string): Promise<IdpInfo> {
    try {
      return await parseIdpMetadata(xml);
    } catch (err) {
      throw new UpstreamError('upstream_invalid_response', `IdP metadata: ${(err as Error).message}`);
    }
  }
}
