import { createHash, timingSafeEqual } from 'node:crypto';
import type {
  AuthenticationResponseJSON, PublicKeyCredentialCreationOptionsJSON, PublicKeyCredentialRequestOptionsJSON, RegistrationResponseJSON,
} from '@simplewebauthn/server';
import type { User } from '../../identity/model.js';
import { ConflictError } from '../../storage/errors.js';
import { PasskeyError } from './errors.js';
import type { ChallengeBinding, ChallengeStore, Passkey, PasskeyRepository } from './repository.js';
import { authenticationResponse, clientData, registrationResponse } from './schemas.js';
import { lazy } from '../../startup/lazy.js';

// Loaded at the first ceremony, not at start: with its ASN.1 and X.509 dependencies it was the
// largest single cost of starting the server (issue 20; docs/performance.md#loading-on-first-use).
const webauthn = lazy(() => import('@simplewebauthn/server'));
const webauthnHelpers = lazy(() => import('@simplewebauthn/server/helpers'));

export interface PasskeyServiceDeps {
  /** The issuer URL: its origin is the only accepted origin, its host name the RP ID. */
  issuer: string;
  passkeys: PasskeyRepository;
  challenges: ChallengeStore;
  /** Shown by the authenticator when registering ("Tessera"). */
  rpName?: string;
}

/** How long a ceremony may take, and how long its challenge lives (a little longer: network, slow users). */
const CEREMONY_TIMEOUT_MS = 120_000;
const CHALLENGE_TTL_S = 300;
/** Live challenges per binding (an interaction, an account): a page asking in a loop cannot fill the table. */
const MAX_LIVE_CHALLENGES = 10;
export const MAX_PASSKEYS_PER_USER = 20;

/** The result of a verified assertion: which passkey, and what the sign-in may claim (RFC 8176 amr). */
export interface PasskeyAssertion {
  passkey: Passkey;
  userVerified: boolean;
  /** 'hwk' for a device-bound credential, 'swk' for one that may be synced (multi-device). */
  keyAmr: 'hwk' | 'swk';
}

/**
 * The WebAuthn ceremonies (W3C WebAuthn Level 3, §7) on top of
 * @simplewebauthn/server. Tessera checks the parts whose failure must be
 * reported precisely (challenge, origin, RP ID, counter) itself, before the
 * library verifies the rest (signature, flags, attestation format), and
 * changes nothing unless everything passed.
 *
 * Decisions: passkeys are discoverable (`residentKey: 'required'`) so they
 * can sign in without a username, and registration requires user
 * verification, so every registered passkey is good for passwordless
 * sign-in (a possession factor plus the authenticator's PIN or biometric).
 * As a second factor after a password, user presence is enough.
 */
export class PasskeyService {
  readonly rpID: string;
  readonly origin: string;
  private readonly rpIdHash: Buffer;

  constructor(private readonly deps: PasskeyServiceDeps) {
    const url = new URL(deps.issuer);
    this.rpID = url.hostname;
    this.origin = url.origin;
    this.rpIdHash = createHash('sha256').update(this.rpID).digest();
  }

  get passkeys(): PasskeyRepository {
    return this.deps.passkeys;
  }

  /**
   * Options for navigator.credentials.create(): the user's existing passkeys are excluded,
   * so the same authenticator cannot be registered twice. With `interactionUid`, the
   * registration happens inside a sign-in (enrollment at the MFA step) and is bound to it.
   * @throws PasskeyError too_many_requests (too many open ceremonies), conflict (passkey limit reached)
   */
  async registrationOptions(user: User, interactionUid?: string): Promise<PublicKeyCredentialCreationOptionsJSON> {
    const existing = await this.deps.passkeys.listByUser(user.id);
    if (existing.length >= MAX_PASSKEYS_PER_USER) {
      throw new PasskeyError('conflict', 'passkey limit reached', { key: 'passkeys.error.limit', params: { max: MAX_PASSKEYS_PER_USER } });
    }
    const challenge = await this.challenge({ purpose: 'register', userId: user.id, interactionUid });
    const { generateRegistrationOptions } = await webauthn();
    return generateRegistrationOptions({
      rpName: this.deps.rpName ?? 'Tessera',
      rpID: this.rpID,
      userName: user.email ?? user.username ?? user.id,
      // The user handle is the account id: opaque, no personal data (WebAuthn §14.6.1), and it
      // lets a discoverable sign-in be cross-checked against the credential's owner.
      userID: new TextEncoder().encode(user.id),
      userDisplayName: [user.givenName, user.familyName].filter(Boolean).join(' ') || (user.email ?? user.username ?? ''),
      // As bytes: a string would be taken as UTF-8 text and encoded again.
      challenge: Buffer.from(challenge, 'base64url'),
      timeout: CEREMONY_TIMEOUT_MS,
      attestationType: 'none',
      excludeCredentials: existing.map((p) => ({ id: p.id, transports: p.transports })),
      authenticatorSelection: { residentKey: 'required', requireResidentKey: true, userVerification: 'required' },
    });
  }

  /**
   * Verifies a registration response and stores the passkey.
   * @throws PasskeyError invalid_request, passkey_challenge_invalid, passkey_origin_mismatch,
   *   passkey_rp_mismatch, passkey_invalid, conflict
   */
  async register(user: User, body: unknown, name: string, interactionUid?: string): Promise<Passkey> {
    const parsed = registrationResponse.safeParse(body);
    if (!parsed.success) throw new PasskeyError('invalid_request', 'registration response does not match the schema');
    const response = parsed.data as RegistrationResponseJSON;
    const client = this.decodeClientData(response.response.clientDataJSON);
    await this.consume(client.challenge, { purpose: 'register', userId: user.id, interactionUid });
    this.checkClientData(client, 'webauthn.create');
    const { decodeAttestationObject } = await webauthnHelpers();
    let authData: Uint8Array<ArrayBuffer>;
    try {
      authData = decodeAttestationObject(Buffer.from(response.response.attestationObject, 'base64url')).get('authData');
    } catch {
      throw new PasskeyError('invalid_request', 'attestationObject is not CBOR');
    }
    await this.checkRpIdHash(authData);

    const { verifyRegistrationResponse } = await webauthn();
    let verified: Awaited<ReturnType<typeof verifyRegistrationResponse>>;
    try {
      verified = await verifyRegistrationResponse({
        response,
        expectedChallenge: client.challenge,
        expectedOrigin: this.origin,
        expectedRPID: this.rpID,
        requireUserVerification: true,
      });
    } catch (err) {
      throw new PasskeyError('passkey_invalid', (err as Error).message);
    }
    if (!verified.verified) throw new PasskeyError('passkey_invalid', 'registration not verified');
    const info = verified.registrationInfo;
    try {
      return await this.deps.passkeys.create({
        id: info.credential.id,
        userId: user.id,
        tenantId: user.tenantId,
        publicKey: Buffer.from(info.credential.publicKey).toString('base64url'),
        signCount: info.credential.counter,
        transports: (response.response.transports ?? []).slice(0, 10),
        aaguid: info.aaguid,
        deviceType: info.credentialDeviceType,
        backedUp: info.credentialBackedUp,
        name,
      });
    } catch (err) {
      if (err instanceof ConflictError) throw new PasskeyError('conflict', 'credential id already registered');
      throw err;
    }
  }

  /**
   * Options for navigator.credentials.get(). Without `allow` (passwordless sign-in,
   * conditional UI) the browser offers whichever discoverable passkey the user has for this site.
   * @throws PasskeyError too_many_requests
   */
  async authenticationOptions(binding: ChallengeBinding, allow?: Passkey[]): Promise<PublicKeyCredentialRequestOptionsJSON> {
    const challenge = await this.challenge(binding);
    const { generateAuthenticationOptions } = await webauthn();
    return generateAuthenticationOptions({
      rpID: this.rpID,
      challenge: Buffer.from(challenge, 'base64url'),
      timeout: CEREMONY_TIMEOUT_MS,
      allowCredentials: allow?.map((p) => ({ id: p.id, transports: p.transports })) ?? [],
      userVerification: binding.purpose === 'login' ? 'required' : 'preferred',
    });
  }

  /**
   * Verifies an assertion and records the use (counter, last used).
   * @param accept which passkeys may answer: the tenant of the sign-in (and, with `member`, those of its members
   *   from other tenants), and for a second factor the user who gave the password.
   * @throws PasskeyError invalid_request, passkey_challenge_invalid, passkey_origin_mismatch, passkey_rp_mismatch,
   *   passkey_unknown, passkey_counter_regression, passkey_invalid
   */
  async authenticate(binding: ChallengeBinding, body: unknown, accept: { tenantId: string; userId?: string; member?: (userId: string, passkeyTenant: string) => Promise<boolean> }): Promise<PasskeyAssertion> {
    const parsed = authenticationResponse.safeParse(body);
    if (!parsed.success) throw new PasskeyError('invalid_request', 'authentication response does not match the schema');
    const response = parsed.data as AuthenticationResponseJSON;
    const client = this.decodeClientData(response.response.clientDataJSON);
    await this.consume(client.challenge, binding);
    this.checkClientData(client, 'webauthn.get');
    const authData = Buffer.from(response.response.authenticatorData, 'base64url');
    const parsedAuth = await this.checkRpIdHash(authData);

    const passkey = await this.deps.passkeys.findById(response.id);
    // Another tenant's passkey, or (as a second factor) another user's, is as unknown as none at all.
    // A member of the tenant from another one (`member`, docs/identity.md#memberships-in-other-tenants) signs in with their passkeys too.
    const ofTenant = passkey && (passkey.tenantId === accept.tenantId || (accept.member !== undefined && await accept.member(passkey.userId, passkey.tenantId)));
    if (!passkey || !ofTenant || (accept.userId !== undefined && passkey.userId !== accept.userId)) {
      throw new PasskeyError('passkey_unknown', 'credential not registered here');
    }
    try {
      return await this.verifyAssertion(binding, response, client.challenge, parsedAuth.counter, passkey);
    } catch (err) {
      throw err instanceof PasskeyError ? err.withCredential(passkey.id) : err;
    }
  }

  private async verifyAssertion(binding: ChallengeBinding, response: AuthenticationResponseJSON, challenge: string, counter: number, passkey: Passkey): Promise<PasskeyAssertion> {
    if (response.response.userHandle !== undefined && !sameBytes(Buffer.from(response.response.userHandle, 'base64url'), Buffer.from(passkey.userId))) {
      throw new PasskeyError('passkey_unknown', 'user handle does not match the credential owner');
    }
    const { verifyAuthenticationResponse } = await webauthn();
    let verified: Awaited<ReturnType<typeof verifyAuthenticationResponse>>;
    try {
      verified = await verifyAuthenticationResponse({
        response,
        expectedChallenge: challenge,
        expectedOrigin: this.origin,
        expectedRPID: this.rpID,
        // Counter 0 here: the library would check the counter before the signature; Tessera checks it
        // after (below), so only a correctly signed assertion is ever reported as a possible clone.
        credential: { id: passkey.id, publicKey: Buffer.from(passkey.publicKey, 'base64url'), counter: 0, transports: passkey.transports },
        // Passwordless sign-in needs the authenticator's PIN or biometric; a second factor needs presence only.
        requireUserVerification: binding.purpose === 'login',
      });
    } catch (err) {
      throw new PasskeyError('passkey_invalid', (err as Error).message);
    }
    if (!verified.verified) throw new PasskeyError('passkey_invalid', 'signature not verified');
    const info = verified.authenticationInfo;
    // WebAuthn §7.2 step 22: a counter that does not grow (when either side is non-zero) signals a cloned authenticator.
    if ((counter > 0 || passkey.signCount > 0) && counter <= passkey.signCount) {
      throw new PasskeyError('passkey_counter_regression', `counter ${counter} not above stored ${passkey.signCount} for ${passkey.id}`);
    }
    const recorded = await this.deps.passkeys.recordUse(passkey.id, passkey.signCount, { signCount: info.newCounter, backedUp: info.credentialBackedUp });
    // Another assertion moved the counter between our read and write: only one of two racing copies may pass.
    if (!recorded) throw new PasskeyError('passkey_counter_regression', `counter of ${passkey.id} changed concurrently`);
    return {
      passkey: { ...passkey, signCount: info.newCounter, backedUp: info.credentialBackedUp, lastUsedAt: Date.now() },
      userVerified: info.userVerified,
      keyAmr: info.credentialDeviceType === 'multiDevice' ? 'swk' : 'hwk',
    };
  }

  private async challenge(binding: ChallengeBinding): Promise<string> {
    const challenge = await this.deps.challenges.create(binding, CHALLENGE_TTL_S, MAX_LIVE_CHALLENGES);
    if (!challenge) throw new PasskeyError('too_many_requests', `too many live ${binding.purpose} challenges`);
    return challenge;
  }

  /** Single use: the challenge is deleted whether or not the rest of the response passes. */
  private async consume(challenge: string, binding: ChallengeBinding): Promise<void> {
    if (!(await this.deps.challenges.consume(challenge, binding))) {
      throw new PasskeyError('passkey_challenge_invalid', `no live ${binding.purpose} challenge matches`);
    }
  }

  private decodeClientData(encoded: string) {
    let json: unknown;
    try {
      json = JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8'));
    } catch {
      throw new PasskeyError('invalid_request', 'clientDataJSON is not JSON');
    }
    const parsed = clientData.safeParse(json);
    if (!parsed.success) throw new PasskeyError('invalid_request', 'clientDataJSON lacks type, challenge or origin');
    return parsed.data;
  }

  private checkClientData(client: { type: string; origin: string; crossOrigin?: boolean; topOrigin?: string }, type: string): void {
    if (client.type !== type) throw new PasskeyError('passkey_invalid', `ceremony type ${client.type.slice(0, 40)}, expected ${type}`);
    // Tessera's pages are never framed (frame-ancestors 'none'), so a cross-origin ceremony is never ours.
    if (client.origin !== this.origin || client.crossOrigin === true || client.topOrigin !== undefined) {
      throw new PasskeyError('passkey_origin_mismatch', `origin ${client.origin.slice(0, 200)}`);
    }
  }

  private async checkRpIdHash(authData: Uint8Array<ArrayBuffer>) {
    const { parseAuthenticatorData } = await webauthnHelpers();
    let parsed: ReturnType<typeof parseAuthenticatorData>;
    try {
      parsed = parseAuthenticatorData(authData);
    } catch {
      throw new PasskeyError('invalid_request', 'authenticator data is malformed');
    }
    if (!sameBytes(Buffer.from(parsed.rpIdHash), this.rpIdHash)) throw new PasskeyError('passkey_rp_mismatch', 'rpIdHash is not the hash of the RP ID');
    return parsed;
  }
}

function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
