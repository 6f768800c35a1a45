import { describe, expect, test } from 'vitest';
import { readCaller } from './caller.js';
import type { Caller } from './caller.js';
import { Denied } from './denied.js';
import {
  ACR_MFA, ACR_PASSWORD, hasAnyRole, onlyOwnTenant, ownTenant, requireAnyRole, requireAuthentication, requireOwnTenant, requireScopes, requireUser,
} from './checks.js';

const NOW = 1_700_000_000;
const person = (extra: Record<string, string> = {}): Caller => readCaller({
  'x-tessera-sub': 'u-1', 'x-tessera-tenant': 'acme', 'x-tessera-client': 'spa', 'x-tessera-scope': 'r w', 'x-tessera-roles': 'editor',
  'x-tessera-acr': ACR_PASSWORD, 'x-tessera-auth-time': String(NOW - 60), ...extra,
}, { gatewaySecret: null });
const machine = readCaller({ 'x-tessera-sub': 'bot', 'x-tessera-client': 'bot', 'x-tessera-tenant': 'acme', 'x-tessera-scope': 'r' }, { gatewaySecret: null });
const code = (fn: () => unknown) => {
  try {
    fn();
    return 'allowed';
  } catch (err) {
    if (!(err instanceof Denied)) throw err;
    return `${err.status} ${err.code}${err.challenge ? ` ${JSON.stringify(err.challenge)}` : ''}`;
  }
};

describe('scopes, roles, people', () => {
  test('every scope named must be granted', () => {
    expect(code(() => requireScopes(person(), 'r', 'w'))).toBe('allowed');
    expect(code(() => requireScopes(person(), 'r', 'admin'))).toBe('403 insufficient_scope {"scope":"r admin"}');
  });

  test('any one of the roles; the one held is returned for the audit line', () => {
    expect(requireAnyRole(person(), 'admin', 'editor')).toBe('editor');
    expect(hasAnyRole(person(), 'admin')).toBe(false);
    expect(code(() => requireAnyRole(person(), 'admin'))).toBe('403 forbidden');
    expect(code(() => requireAnyRole(machine, 'editor'))).toBe('403 forbidden');
  });

  test('people-only operations refuse machine clients', () => {
    expect(requireUser(person())).toBe('u-1');
    expect(code(() => requireUser(machine))).toBe('403 forbidden');
  });
});

describe('tenant isolation', () => {
  const mine = { id: 1, tenant: 'acme' };
  const theirs = { id: 2, tenant: 'globex' };
  test('another tenant\'s item is "not found", the same as a missing one', () => {
    expect(ownTenant(person(), mine)).toBe(mine);
    expect(ownTenant(person(), theirs)).toBeUndefined();
    expect(code(() => requireOwnTenant(person(), theirs))).toBe('404 not_found');
    expect(code(() => requireOwnTenant(person(), undefined))).toBe('404 not_found');
    expect(onlyOwnTenant(person(), [mine, theirs, mine])).toEqual([mine, mine]);
  });
});

describe('step-up (RFC 9470)', () => {
  const now = () => NOW * 1000;
  test('a password sign-in asks for the MFA level', () => {
    expect(code(() => requireAuthentication(person(), { now }))).toBe(`401 insufficient_user_authentication {"acrValues":"${ACR_MFA}"}`);
  });

  test('MFA satisfies the password level; the password level does not satisfy MFA', () => {
    expect(code(() => requireAuthentication(person({ 'x-tessera-acr': ACR_MFA }), { acr: ACR_PASSWORD, now }))).toBe('allowed');
    expect(code(() => requireAuthentication(person({ 'x-tessera-acr': 'urn:other' }), { acr: ACR_PASSWORD, now }))).toMatch(/^401/);
  });

  test('max_age: a sign-in older than allowed, or of unknown age, is asked to be repeated', () => {
    const mfa = { 'x-tessera-acr': ACR_MFA };
    expect(code(() => requireAuthentication(person(mfa), { maxAge: 300, now }))).toBe('allowed');
    expect(code(() => requireAuthentication(person({ ...mfa, 'x-tessera-auth-time': String(NOW - 301) }), { maxAge: 300, now })))
      .toBe(`401 insufficient_user_authentication {"acrValues":"${ACR_MFA}","maxAge":300}`);
    const noTime = readCaller({ 'x-tessera-sub': 'u', 'x-tessera-tenant': 't', 'x-tessera-client': 'c', 'x-tessera-acr': ACR_MFA }, { gatewaySecret: null });
    expect(code(() => requireAuthentication(noTime, { maxAge: 300, now }))).toMatch(/^401/);
    expect(code(() => requireAuthentication(noTime, { now }))).toBe('allowed');
  });

  test('machine clients have nobody to step up: refused unless the operation allows them', () => {
    expect(code(() => requireAuthentication(machine))).toBe('403 forbidden');
    expect(code(() => requireAuthentication(machine, { allowClients: true }))).toBe('allowed');
  });

  test('an unknown required level is a programming error, not a silent pass', () => {
    expect(() => requireAuthentication(person(), { acr: 'urn:nobody' })).toThrow(TypeError);
  });
});
