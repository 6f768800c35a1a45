import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';

/**
 * A software WebAuthn authenticator for tests: what a browser plus a
 * platform authenticator would return from navigator.credentials.create()
 * and .get(), built by hand (ES256 keys, CBOR, authenticator data; WebAuthn
 * Level 3 §6.1, §6.5), so the server's verification is exercised with real
 * signatures and no browser. Every field can be overridden to forge bad input.
 */

// ---- a tiny CBOR encoder (RFC 8949): unsigned/negative ints, byte and text strings, arrays, maps ----

type Cbor = number | string | Uint8Array | Cbor[] | Map<Cbor, Cbor>;

function head(major: number, n: number): Buffer {
  if (n < 24) return Buffer.from([(major << 5) | n]);
  if (n < 0x100) return Buffer.from([(major << 5) | 24, n]);
  if (n < 0x10000) return Buffer.from([(major << 5) | 25, n >> 8, n & 0xff]);
  const b = Buffer.alloc(5);
  b[0] = (major << 5) | 26;
  b.writeUInt32BE(n, 1);
  return b;
}

export function cbor(value: Cbor): Buffer {
  if (typeof value === 'number') return value >= 0 ? head(0, value) : head(1, -1 - value);
  if (typeof value === 'string') {
    const bytes = Buffer.from(value, 'utf8');
    return Buffer.concat([head(3, bytes.length), bytes]);
  }
  if (value instanceof Uint8Array) return Buffer.concat([head(2, value.length), Buffer.from(value)]);
  if (Array.isArray(value)) return Buffer.concat([head(4, value.length), ...value.map(cbor)]);
  const parts: Buffer[] = [head(5, value.size)];
  for (const [k, v] of value) parts.push(cbor(k), cbor(v));
  return Buffer.concat(parts);
}

// ---- the authenticator ----

const FLAG_UP = 0x01;
const FLAG_UV = 0x04;
const FLAG_BE = 0x08;
const FLAG_BS = 0x10;
const FLAG_AT = 0x40;

const b64url = (b: Uint8Array | string) => Buffer.from(b).toString('base64url');
const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest();

export interface SoftCredential {
  id: Buffer;
  privateKey: KeyObject;
  cose: Buffer;
  userHandle: string;
  counter: number;
}

export interface AuthenticatorOptions {
  /** The page's origin (what the browser would put in clientDataJSON). */
  origin: string;
  /** Backup eligible and backed up: a synced ("multi-device") passkey. */
  synced?: boolean;
  /** Authenticators without a counter always report 0 (most synced passkeys). */
  counter?: boolean;
}

/** What a test may override to forge a response. */
export interface Forgery {
  origin?: string;
  rpId?: string;
  challenge?: string;
  type?: string;
  counter?: number;
  userVerified?: boolean;
  credentialId?: string;
  /** Sign with another key (a bad signature). */
  wrongKey?: boolean;
}

interface CreationOptions { challenge: string; rp: { id?: string }; user: { id: string }; excludeCredentials?: { id: string }[] }
interface RequestOptions { challenge: string; rpId?: string; allowCredentials?: { id: string }[] }

export class SoftAuthenticator {
  readonly credentials: SoftCredential[] = [];
  private readonly aaguid = randomBytes(16);

  constructor(private readonly opts: AuthenticatorOptions) {}

  private flags(userVerified: boolean, attested: boolean): number {
    return FLAG_UP | (userVerified ? FLAG_UV : 0) | (this.opts.synced ? FLAG_BE | FLAG_BS : 0) | (attested ? FLAG_AT : 0);
  }

  private clientData(type: string, challenge: string, f: Forgery): Buffer {
    return Buffer.from(JSON.stringify({ type: f.type ?? type, challenge: f.challenge ?? challenge, origin: f.origin ?? this.opts.origin, crossOrigin: false }));
  }

  /** navigator.credentials.create(), as @simplewebauthn/browser's startRegistration returns it (JSON). */
  register(options: CreationOptions, f: Forgery = {}) {
    const rpId = f.rpId ?? options.rp.id!;
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = publicKey.export({ format: 'jwk' });
    const cose = cbor(new Map<Cbor, Cbor>([
      [1, 2], [3, -7], [-1, 1], [-2, Buffer.from(jwk.x!, 'base64url')], [-3, Buffer.from(jwk.y!, 'base64url')],
    ]));
    const id = randomBytes(32);
    const counter = Buffer.alloc(4);
    const idLen = Buffer.alloc(2);
    idLen.writeUInt16BE(id.length);
    const authData = Buffer.concat([sha256(rpId), Buffer.from([this.flags(f.userVerified ?? true, true)]), counter, this.aaguid, idLen, id, cose]);
    const attestationObject = cbor(new Map<Cbor, Cbor>([['fmt', 'none'], ['attStmt', new Map()], ['authData', authData]]));
    const clientDataJSON = this.clientData('webauthn.create', options.challenge, f);
    const credential: SoftCredential = { id, privateKey, cose, userHandle: options.user.id, counter: 0 };
    this.credentials.push(credential);
    return {
      id: b64url(id), rawId: b64url(id), type: 'public-key', authenticatorAttachment: 'platform', clientExtensionResults: {},
      response: { clientDataJSON: b64url(clientDataJSON), attestationObject: b64url(attestationObject), transports: ['internal'] },
    };
  }

  /** navigator.credentials.get(), as startAuthentication returns it: the newest credential, or one the options allow. */
  authenticate(options: RequestOptions, f: Forgery = {}) {
    const allowed = options.allowCredentials?.map((c) => c.id) ?? [];
    const credential = [...this.credentials].reverse().find((c) => !allowed.length || allowed.includes(b64url(c.id)));
    if (!credential) throw new Error('no credential for these options');
    if (this.opts.counter !== false) credential.counter += 1;
    const count = f.counter ?? (this.opts.counter === false ? 0 : credential.counter);
    const counter = Buffer.alloc(4);
    counter.writeUInt32BE(count);
    const rpId = f.rpId ?? options.rpId!;
    const authData = Buffer.concat([sha256(rpId), Buffer.from([this.flags(f.userVerified ?? true, false)]), counter]);
    const clientDataJSON = this.clientData('webauthn.get', options.challenge, f);
    const key = f.wrongKey ? generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey : credential.privateKey;
    // ES256 signatures are DER-encoded ECDSA over authData ‖ SHA-256(clientDataJSON) (WebAuthn §6.3.3, §8.2).
    const signature = sign('sha256', Buffer.concat([authData, sha256(clientDataJSON)]), key);
    const id = f.credentialId ?? b64url(credential.id);
    return {
      id, rawId: id, type: 'public-key', authenticatorAttachment: 'platform', clientExtensionResults: {},
      response: {
        clientDataJSON: b64url(clientDataJSON), authenticatorData: b64url(authData), signature: b64url(signature),
        userHandle: credential.userHandle,
      },
    };
  }
}
