import type { TenantPolicy } from './policy.js';
import { isCommonPassword } from './common-passwords.js';

/** Stable codes for a password the tenant's policy refuses (also the `fields` codes of `validation_failed`). */
export type PasswordViolation = 'too_short' | 'too_long' | 'common_password' | 'same_as_identifier';

/**
 * Checks a new password against a tenant's password policy, following NIST
 * SP 800-63B §5.1.1.2: a minimum and maximum length counted in Unicode code
 * points, no list of well-known passwords, no composition rules. The account's
 * own username or email (or the email's local part) is refused as well, since
 * it is the first thing an attacker who knows the account tries.
 *
 * Returns the violated rules (empty when the password is acceptable), most
 * important first, so a form can show the first one next to the field.
 * Never throws.
 */
export function checkPassword(
  password: string,
  policy: TenantPolicy['password'],
  context?: { username?: string | null; email?: string | null },
): string[] {
  const violations: PasswordViolation[] = [];
  // Code points, not UTF-16 units: an emoji is one character to the user (NIST counts code points).
  const length = [...password.normalize('NFC')].length;
  if (length < policy.min_length) violations.push('too_short');
  if (length > policy.max_length) violations.push('too_long');
  if (policy.forbid_common && isCommonPassword(password)) violations.push('common_password');
  if (context && matchesIdentifier(password, context)) violations.push('same_as_identifier');
  return violations;
}

function matchesIdentifier(password: string, context: { username?: string | null; email?: string | null }): boolean {
  const candidate = password.trim().normalize('NFKC').toLowerCase();
  if (!candidate) return false;
  const identifiers = [context.username, context.email, context.email?.split('@')[0]]
    .filter((v): v is string => typeof v === 'string' && v.trim().length > 0)
    .map((v) => v.trim().normalize('NFKC').toLowerCase());
  return identifiers.includes(candidate);
}
