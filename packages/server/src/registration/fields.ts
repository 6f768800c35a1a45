import { checkPassword } from '../identity/password-policy.js';
import type { TenantPolicy } from '../identity/policy.js';
import { isStorableText } from '../storage/text.js';

/** What a registration form or API call carries (strings as received). */
export interface RegistrationFields {
  email?: string;
  password?: string;
  username?: string;
  given_name?: string;
  family_name?: string;
  phone_number?: string;
}

/** The values to store once every rule passed: trimmed, the phone number in E.164. */
export interface CleanRegistration {
  email: string;
  password: string;
  username: string | null;
  givenName: string | null;
  familyName: string | null;
  phoneNumber: string | null;
}

/** RFC 5321 §4.5.3.1.3: a path is at most 256 octets, so an address at most 254 characters. */
const EMAIL_MAX = 254;
/**
 * A pragmatic address check: one "@", no whitespace, a dot in the domain.
 * Deliverability is proven by the confirmation link, not by a regex.
 */
const EMAIL = /^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$/;
/**
 * Usernames: letters, digits, ".", "_", "-". No "@": sign-in looks a login up
 * as a username first, so a username equal to someone's email address would
 * shadow that person's email sign-in.
 */
const USERNAME = /^[\p{L}\p{N}._-]{3,64}$/u;
const NAME_MAX = 100;
/** E.164: "+", a country code not starting with 0, at most 15 digits in all. */
const E164 = /^\+[1-9]\d{6,14}$/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * Applies the tenant's rules to a registration: required fields, formats,
 * lengths and the password policy. Returns the clean values, or the first
 * problem of each field as a stable code.
 */
export function validateRegistration(input: RegistrationFields, policy: TenantPolicy):
  { ok: true; values: CleanRegistration } | { ok: false; fields: Record<string, string> } {
  const fields: Record<string, string> = {};
  const text = (name: keyof RegistrationFields): string | null => {
    const raw = input[name];
    if (raw === undefined) return null;
    if (!isStorableText(raw) || CONTROL.test(raw)) {
      fields[name] = 'invalid';
      return null;
    }
    return raw.trim() || null;
  };

  const email = text('email');
  if (!fields.email) {
    if (!email) fields.email = 'required';
    else if (email.length > EMAIL_MAX) fields.email = 'too_long';
    else if (!EMAIL.test(email)) fields.email = 'invalid_email';
  }

  const required = new Set(policy.required_fields);
  const username = text('username');
  if (!fields.username) {
    if (!username) {
      if (required.has('username')) fields.username = 'required';
    } else if (username.length > 64) fields.username = 'too_long';
    else if ([...username].length < 3) fields.username = 'too_short';
    else if (!USERNAME.test(username)) fields.username = 'invalid_username';
  }

  const names = { given_name: text('given_name'), family_name: text('family_name') };
  for (const [name, value] of Object.entries(names) as [keyof typeof names, string | null][]) {
    if (fields[name]) continue;
    if (!value) {
      if (required.has(name)) fields[name] = 'required';
    } else if (value.length > NAME_MAX) fields[name] = 'too_long';
  }

  const phoneText = text('phone_number');
  let phone: string | null = null;
  if (!fields.phone_number) {
    if (!phoneText) {
      if (required.has('phone_number')) fields.phone_number = 'required';
    } else {
      // People type spaces, dashes, dots and brackets; E.164 has none.
      phone = phoneText.replace(/[\s\-.()/]/g, '');
      if (phone.startsWith('00')) phone = `+${phone.slice(2)}`;
      if (!E164.test(phone)) fields.phone_number = phoneText.length > 32 ? 'too_long' : 'invalid_phone';
    }
  }

  // The password is checked as typed: no trimming (spaces are legitimate characters in passphrases).
  const password = input.password;
  if (!fields.password) {
    if (password === undefined || password === '') fields.password = 'required';
    else if (!isStorableText(password)) fields.password = 'invalid';
    else {
      const violations = checkPassword(password, policy.password, { username, email });
      if (violations.length) fields.password = violations[0]!;
    }
  }

  if (Object.keys(fields).length) return { ok: false, fields };
  return {
    ok: true,
    values: {
      email: email!, password: password!, username,
      givenName: names.given_name, familyName: names.family_name, phoneNumber: phone,
    },
  };
}
