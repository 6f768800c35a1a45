import { decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';

/** The keys a mock signs with: its published key, and a rogue key that no JWKS publishes. */
export interface Signer {
  key: CryptoKey;
  kid: string;
  rogue: CryptoKey;
  rogueKid: string;
}

export async function createSigner(name: string): Promise<{ signer: Signer; privateJwk: JWK }> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const kid = `${name}-${Date.now().toString(36)}`;
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' };
  const rogue = await generateKeyPair('RS256');
  return { signer: { key: privateKey, kid, rogue: rogue.privateKey, rogueKid: `rogue-${kid}` }, privateJwk };
}

/**
 * Re-signs an ID token the engine issued, keeping every claim (nonce, at_hash, aud, exp...), so a
 * relying party fails on exactly one check:
 * - bad_signature: the same claims signed by a key absent from the JWKS, under its own `kid`
 *   (a relying party refetches the JWKS once for the unknown kid and still finds nothing);
 * - wrong_issuer: correctly signed with the published key, but `iss` names another issuer (mix-up).
 */
export async function reissueIdToken(idToken: string, scenario: 'bad_signature' | 'wrong_issuer', signer: Signer, otherIssuer: string): Promise<string> {
  const header = decodeProtectedHeader(idToken);
  const claims = decodeJwt(idToken);
  if (scenario === 'wrong_issuer') {
    return new SignJWT({ ...claims, iss: otherIssuer })
      .setProtectedHeader({ alg: 'RS256', typ: header.typ, kid: signer.kid })
      .sign(signer.key);
  }
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'RS256', typ: header.typ, kid: signer.rogueKid })
    .sign(signer.rogue);
}
