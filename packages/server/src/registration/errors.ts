/**
 * Why a registration was refused, independent of HTTP: routes map these to
 * pages and to the JSON API's stable codes (docs/errors.md).
 */
export type RefusalCode = 'unknown_tenant' | 'registration_closed' | 'invite_required' | 'invite_invalid';

export class RegistrationRefused extends Error {
  constructor(readonly code: RefusalCode, readonly reason?: 'invalid' | 'expired' | 'used') {
    super(`registration refused: ${code}${reason ? ` (${reason})` : ''}`);
    this.name = 'RegistrationRefused';
  }
}

/**
 * Field-level problems: field name → stable code (`required`, `invalid_email`,
 * `too_short`, `too_long`, `common_password`, `same_as_identifier`,
 * `invalid_username`, `invalid_phone`, `invalid`, `taken`, `invite_mismatch`).
 */
export class RegistrationInvalid extends Error {
  constructor(readonly fields: Record<string, string>) {
    super(`registration invalid: ${Object.entries(fields).map(([k, v]) => `${k}=${v}`).join(', ')}`);
    this.name = 'RegistrationInvalid';
  }
}
