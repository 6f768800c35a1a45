import { AppError } from '../../http/errors.js';
import type { Translate } from '../../i18n/index.js';

/**
 * Why a WebAuthn ceremony was refused. Each is a stable error code (listed
 * in http/errors.ts ERROR_CODES and docs/errors.md); every one of them
 * leaves the stored passkeys untouched.
 */
export type PasskeyErrorCode =
  /** The body or the data inside it (clientDataJSON, authenticator data) is not well-formed. */
  | 'invalid_request'
  /** The challenge is unknown, expired, already used, or was issued for another purpose, user or sign-in. */
  | 'passkey_challenge_invalid'
  /** clientDataJSON names another origin than the issuer's (or a cross-origin iframe). */
  | 'passkey_origin_mismatch'
  /** The authenticator data is for another RP ID than the issuer's host name. */
  | 'passkey_rp_mismatch'
  /** The signature counter did not increase: the authenticator may have been cloned. */
  | 'passkey_counter_regression'
  /** No such passkey is registered (for this account, tenant or sign-in). */
  | 'passkey_unknown'
  /** Anything else the verification refuses: bad signature, no user verification, wrong ceremony type… */
  | 'passkey_invalid'
  /** Too many outstanding challenges for one sign-in or account. */
  | 'too_many_requests'
  /** The credential is already registered, or the account has the most passkeys it may have. */
  | 'conflict';

export class PasskeyError extends Error {
  /**
   * @param detail for logs only (may name what the authenticator sent; never shown to the user).
   * @param message a catalogue key (and parameters) replacing the code's usual message.
   */
  constructor(readonly code: PasskeyErrorCode, readonly detail: string, readonly userMessage?: { key: string; params?: Record<string, string | number> }) {
    super(`${code}: ${detail}`);
    this.name = 'PasskeyError';
  }

  /** The registered passkey the refused response named, once it was found (for the audit log). */
  credentialId?: string;

  withCredential(id: string): this {
    this.credentialId = id;
    return this;
  }
}

const STATUS: Record<PasskeyErrorCode, number> = {
  invalid_request: 400,
  passkey_challenge_invalid: 400,
  passkey_origin_mismatch: 400,
  passkey_rp_mismatch: 400,
  passkey_counter_regression: 400,
  passkey_unknown: 400,
  passkey_invalid: 400,
  too_many_requests: 429,
  conflict: 409,
};

/**
 * The HTTP form of a refusal: the stable code, and as `error_description` the
 * message in the page's language (the browser glue shows it as it is).
 */
export function toAppError(err: PasskeyError, t: Translate): AppError {
  const text = err.userMessage ? t(err.userMessage.key, err.userMessage.params) : t(`passkeys.error.${err.code}`);
  return new AppError(err.code, STATUS[err.code], text);
}
