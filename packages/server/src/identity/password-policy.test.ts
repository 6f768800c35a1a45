import { describe, expect, test } from 'vitest';
import { checkPassword } from './password-policy.js';
import { COMMON_PASSWORD_COUNT, isCommonPassword } from './common-passwords.js';
import { DEFAULT_POLICY } from './policy.js';

const policy = DEFAULT_POLICY.password;

describe('password policy', () => {
  test('a long, uncommon password passes', () => {
    expect(checkPassword('correct horse battery staple', policy)).toEqual([]);
    expect(checkPassword('correct horse battery staple', policy, { username: 'alice', email: 'alice@example.test' })).toEqual([]);
  });

  test('length bounds come from the policy and count code points', () => {
    expect(checkPassword('short1!', policy)).toEqual(['too_short']);
    expect(checkPassword('x'.repeat(128), policy)).toEqual([]);
    expect(checkPassword('x'.repeat(129), policy)).toEqual(['too_long']);
    expect(checkPassword('abcdefghij', { ...policy, min_length: 12 })).toEqual(['too_short']);
    expect(checkPassword('abcdefghijkl', { ...policy, max_length: 11 })).toEqual(['too_long']);
    // Four emoji are 8 UTF-16 units but 4 characters.
    expect(checkPassword('🔑🔑🔑🔑', policy)).toEqual(['too_short']);
    expect(checkPassword('🔑🔑🔑🔑🔑🔑🔑🔑', policy)).toEqual([]);
  });

  test('common passwords are refused case-insensitively, unless the policy allows them', () => {
    for (const p of ['password', '12345678', 'qwertyuiop', 'PassWord1', 'ILOVEYOU1', 'Passw0rd', 'iloveyou']) {
      expect(checkPassword(p, policy), p).toContain('common_password');
    }
    expect(checkPassword('Password1', { ...policy, forbid_common: false })).toEqual([]);
    // Short common ones report both rules, the length first.
    expect(checkPassword('123456', policy)).toEqual(['too_short', 'common_password']);
  });

  test('the account own username, email or email local part is refused', () => {
    const ctx = { username: 'Bernadette', email: 'b.smith@example.test' };
    expect(checkPassword('bernadette', policy, ctx)).toEqual(['same_as_identifier']);
    expect(checkPassword('B.Smith@Example.test', policy, ctx)).toEqual(['same_as_identifier']);
    expect(checkPassword('b.smith@example.test', policy, { email: 'b.smith@example.test' })).toEqual(['same_as_identifier']);
    expect(checkPassword('bernadette', policy)).toEqual([]);
    expect(checkPassword('bernadette!', policy, ctx)).toEqual([]);
    expect(checkPassword('12345678', policy, { username: null, email: null })).toEqual(['common_password']);
  });

  test('the built-in list holds a few hundred real entries', () => {
    expect(COMMON_PASSWORD_COUNT).toBeGreaterThan(300);
    expect(isCommonPassword('123456')).toBe(true);
    expect(isCommonPassword('QWERTY')).toBe(true);
    expect(isCommonPassword('correct horse battery staple')).toBe(false);
  });
});
