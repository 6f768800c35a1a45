import { z } from 'zod';

/**
 * The JSON the browser glue posts (what @simplewebauthn/browser's
 * startRegistration/startAuthentication return), validated before any of it
 * reaches the verifier. Sizes are generous for real authenticators and
 * small enough that nothing large is ever decoded.
 */
const b64url = (max: number) => z.string().min(1).max(max).regex(/^[A-Za-z0-9_-]+$/, 'must be base64url');

const common = {
  id: b64url(1400),
  rawId: b64url(1400),
  type: z.literal('public-key'),
  authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional(),
  clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
};

export const registrationResponse = z.object({
  ...common,
  response: z.object({
    clientDataJSON: b64url(4096),
    attestationObject: b64url(16_384),
    authenticatorData: b64url(8192).optional(),
    transports: z.array(z.string().max(32)).max(10).optional(),
    publicKeyAlgorithm: z.number().int().optional(),
    publicKey: b64url(4096).optional(),
  }),
});

export const authenticationResponse = z.object({
  ...common,
  response: z.object({
    clientDataJSON: b64url(4096),
    authenticatorData: b64url(8192),
    signature: b64url(2048),
    userHandle: b64url(128).optional(),
  }),
});

/** The decoded clientDataJSON (WebAuthn §5.8.1): only the members Tessera checks itself. */
export const clientData = z.object({
  type: z.string(),
  challenge: b64url(256),
  origin: z.string().max(512),
  crossOrigin: z.boolean().optional(),
  topOrigin: z.string().optional(),
});

/** A passkey's display name, as typed on the account page. */
export const passkeyName = z.string().trim().min(1).max(64).refine((s) => !/\p{Cc}/u.test(s), 'no control characters');

/** POST /account/passkeys/verify: the registration response, the form token, an optional name. */
export const registerBody = z.object({
  _csrf: z.string().optional(),
  name: z.string().max(200).optional(),
  credential: z.unknown(),
});

/** POST /account/passkeys/rename (form): which passkey (its credential id) and the new name (checked with `passkeyName`). */
export const renameBody = z.object({ id: b64url(1400), name: z.string().max(200) });

/** POST /interaction/:uid/passkey (and the MFA step): the authentication response. */
export const authenticateBody = z.object({ credential: z.unknown() });
