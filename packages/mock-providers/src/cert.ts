// @peculiar/x509 needs the Reflect metadata API before it loads.
import 'reflect-metadata';
import { webcrypto, X509Certificate as NodeX509 } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as never);

export interface KeyAndCert {
  /** PKCS#8 PEM. */
  privateKeyPem: string;
  /** X.509 PEM. */
  certificatePem: string;
  /** The certificate's base64 DER (what SAML metadata and KeyInfo carry). */
  certificateBase64: string;
}

const RSA = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048 };

/** A self-signed RSA certificate for signing (SAML), valid from yesterday for ten years. */
export async function selfSigned(commonName: string): Promise<KeyAndCert> {
  const keys = await webcrypto.subtle.generateKey(RSA, true, ['sign', 'verify']);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: BigInt(now).toString(16).padStart(16, '0'),
    name: `CN=${commonName}`,
    notBefore: new Date(now - 86_400_000),
    notAfter: new Date(now + 10 * 365 * 86_400_000),
    signingAlgorithm: RSA,
    keys: keys as never,
    extensions: [new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true)],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const certificatePem = cert.toString('pem');
  new NodeX509(certificatePem); // fails here rather than at a relying party if the encoding were off
  return {
    privateKeyPem: `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END PRIVATE KEY-----\n`,
    certificatePem,
    certificateBase64: Buffer.from(cert.rawData).toString('base64'),
  };
}

export interface TlsMaterial {
  /** The CA that clients trust (PEM). */
  caPem: string;
  /** The server's key (PKCS#8 PEM) and certificate (PEM), for localhost and 127.0.0.1. */
  keyPem: string;
  certPem: string;
}

/**
 * A throw-away CA and a server certificate it signed (localhost, 127.0.0.1, ::1 and `extraHost`),
 * so a client can verify the mock directory over TLS by trusting the CA, as it would a company CA.
 */
export async function serverTls(extraHost?: string): Promise<TlsMaterial> {
  const now = Date.now();
  const caKeys = await webcrypto.subtle.generateKey(RSA, true, ['sign', 'verify']);
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    name: 'CN=Tessera mock providers CA', notBefore: new Date(now - 86_400_000), notAfter: new Date(now + 10 * 365 * 86_400_000),
    signingAlgorithm: RSA, keys: caKeys as never,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ],
  });
  const leafKeys = await webcrypto.subtle.generateKey(RSA, true, ['sign', 'verify']);
  const names = [{ type: 'dns', value: 'localhost' }, { type: 'ip', value: '127.0.0.1' }, { type: 'ip', value: '::1' }];
  if (extraHost && !['localhost', '127.0.0.1', '::1'].includes(extraHost)) {
    names.push({ type: /^[\d.]+$|:/.test(extraHost) ? 'ip' : 'dns', value: extraHost });
  }
  const leaf = await x509.X509CertificateGenerator.create({
    subject: 'CN=localhost', issuer: ca.subject, notBefore: new Date(now - 86_400_000), notAfter: new Date(now + 2 * 365 * 86_400_000),
    signingAlgorithm: RSA, signingKey: caKeys.privateKey as never, publicKey: leafKeys.publicKey as never,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(names as never),
    ],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', leafKeys.privateKey));
  return {
    caPem: ca.toString('pem'),
    certPem: leaf.toString('pem'),
    keyPem: `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END PRIVATE KEY-----\n`,
  };
}
