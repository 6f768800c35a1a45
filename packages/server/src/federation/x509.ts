import { webcrypto } from 'node:crypto';
import { commonJs, lazy } from '../startup/lazy.js';

/**
 * @peculiar/x509 (self-signed certificates for SAML SP keys and upstream
 * private_key_jwt keys), loaded when a key is first generated rather than at
 * start: with its ASN.1 modules it cost about 100 ms of every start (issue 20;
 * docs/performance.md#loading-on-first-use). It needs the Reflect metadata API
 * before it loads.
 */
export const x509 = lazy(async () => {
  await import('reflect-metadata');
  const x509 = commonJs(await import('@peculiar/x509'));
  x509.cryptoProvider.set(webcrypto as never);
  return x509;
});
