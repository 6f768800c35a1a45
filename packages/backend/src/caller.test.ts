import { describe, expect, test } from 'vitest';
import { readCaller } from './caller.js';
import { Denied, answerFor } from './denied.js';
import { createAuditor } from './audit.js';
import type { AuditEntry } from './audit.js';

const SECRET = 'shared-secret-0123456789';
const user = {
  'x-tessera-gateway-secret': SECRET, 'x-tessera-sub': 'u-1', 'x-tessera-tenant': 'acme', 'x-tessera-client': 'spa',
  'x-tessera-scope': 'records:read records:write', 'x-tessera-roles': 'editor admin', 'x-tessera-acr': 'urn:tessera:acr:mfa',
  'x-tessera-auth-time': '1700000000', 'x-request-id': 'req-1',
};
const denial = (fn: () => unknown): Denied => {
  try {
    fn();
  } catch (err) {
    if (err instanceof Denied) return err;
    throw err;
  }
  throw new Error('not denied');
};

describe('readCaller', () => {
  test('a person\'s context becomes a typed, frozen caller', () => {
    const c = readCaller(user, { gatewaySecret: SECRET });
    expect(c).toMatchObject({ kind: 'user', sub: 'u-1', userId: 'u-1', tenant: 'acme', clientId: 'spa', roles: ['editor', 'admin'], acr: 'urn:tessera:acr:mfa', authTime: 1700000000, requestId: 'req-1' });
    expect([...c.scopes]).toEqual(['records:read', 'records:write']);
    expect(Object.isFrozen(c)).toBe(true);
    expect(c.actor).toBeUndefined();
  });

  test('a delegated call (token exchange): the actor the gateway forwards is the service acting for the user', () => {
    const c = readCaller({ ...user, 'x-tessera-client': 'orders-service', 'x-tessera-actor': 'orders-service' }, { gatewaySecret: SECRET });
    expect(c).toMatchObject({ kind: 'user', sub: 'u-1', userId: 'u-1', clientId: 'orders-service', actor: 'orders-service' });
  });

  test('a machine token (sub = client_id, RFC 9068 §2.2) is a client without user id, roles or acr', () => {
    const c = readCaller({ 'x-tessera-sub': 'worker', 'x-tessera-client': 'worker', 'x-tessera-tenant': 'default', 'x-tessera-scope': '' }, { gatewaySecret: null });
    expect(c).toMatchObject({ kind: 'client', userId: undefined, roles: [], acr: undefined, authTime: undefined });
    expect(c.scopes.size).toBe(0);
  });

  test('the gateway secret: missing, wrong or repeated is 401 not_from_gateway; any of a rotation list is accepted', () => {
    const { 'x-tessera-gateway-secret': _s, ...without } = user;
    expect(denial(() => readCaller(without, { gatewaySecret: SECRET })).code).toBe('not_from_gateway');
    expect(denial(() => readCaller({ ...user, 'x-tessera-gateway-secret': 'guess' }, { gatewaySecret: SECRET })).code).toBe('not_from_gateway');
    expect(denial(() => readCaller({ ...user, 'x-tessera-gateway-secret': [SECRET, SECRET] }, { gatewaySecret: SECRET })).code).toBe('not_from_gateway');
    expect(readCaller(user, { gatewaySecret: ['next-secret-abcdefgh', SECRET] }).sub).toBe('u-1');
    expect(() => readCaller(user, { gatewaySecret: [] })).toThrow(TypeError);
  });

  test.each([
    ['no sub', { 'x-tessera-sub': undefined }],
    ['no tenant', { 'x-tessera-tenant': undefined }],
    ['no client', { 'x-tessera-client': undefined }],
    ['a repeated tenant', { 'x-tessera-tenant': ['acme', 'globex'] }],
    ['a space in the sub', { 'x-tessera-sub': 'a b' }],
    ['a control character in the roles', { 'x-tessera-roles': 'admin\tx' }],
    ['a malformed auth time', { 'x-tessera-auth-time': 'yesterday' }],
    ['a repeated actor', { 'x-tessera-actor': ['svc-a', 'svc-b'] }],
    ['a space in the actor', { 'x-tessera-actor': 'svc a' }],
    ['an empty actor', { 'x-tessera-actor': '' }],
    ['a huge scope list', { 'x-tessera-scope': 'a '.repeat(3000).trim() }],
  ])('%s: 401 no_context', (_name, patch) => {
    const d = denial(() => readCaller({ ...user, ...patch }, { gatewaySecret: SECRET }));
    expect(d.code).toBe('no_context');
    expect(answerFor(d)).toMatchObject({ status: 401, body: { error: 'unauthorized' }, headers: { 'www-authenticate': 'Bearer realm="tessera"' } });
  });
});

describe('answers', () => {
  test('RFC 9470 step-up: 401 with error, acr_values and max_age in the challenge and the body', () => {
    const a = answerFor(Denied.stepUp('Sign in again.', 'urn:tessera:acr:mfa', 600), 'records');
    expect(a.status).toBe(401);
    expect(a.headers['www-authenticate']).toBe('Bearer realm="records", error="insufficient_user_authentication", error_description="Sign in again.", acr_values="urn:tessera:acr:mfa", max_age="600"');
    expect(a.body).toEqual({ error: 'insufficient_user_authentication', error_description: 'Sign in again.' });
    expect(a.headers['cache-control']).toBe('no-store');
  });

  test('RFC 6750 insufficient_scope: 403 naming the scopes; plain 403 and 404 carry no challenge', () => {
    expect(answerFor(Denied.insufficientScope(['a:read', 'a:write'])).headers['www-authenticate']).toBe('Bearer realm="tessera", error="insufficient_scope", error_description="This operation needs the scopes a:read a:write.", scope="a:read a:write"');
    expect(answerFor(Denied.forbidden()).headers['www-authenticate']).toBeUndefined();
    expect(answerFor(Denied.notFound())).toMatchObject({ status: 404, body: { error: 'not_found' } });
  });

  test('quotes and backslashes cannot break out of a challenge parameter', () => {
    expect(answerFor(Denied.stepUp('a "quoted" \\ text', undefined, undefined)).headers['www-authenticate']).toContain('error_description="a quoted  text"');
  });
});

describe('audit', () => {
  test('one entry with who, as what, where, how signed in and which request; reserved names refused', () => {
    const lines: AuditEntry[] = [];
    const audit = createAuditor((e) => lines.push(e), { now: () => Date.UTC(2024, 0, 2, 3, 4, 5) });
    const caller = readCaller(user, { gatewaySecret: SECRET });
    audit(caller, 'record.deleted', { record: 'r-1', via: 'role:admin' });
    expect(lines).toEqual([{
      audit: true, event: 'record.deleted', at: '2024-01-02T03:04:05.000Z', actor: 'u-1', actor_type: 'user', client: 'spa', tenant: 'acme',
      acr: 'urn:tessera:acr:mfa', request_id: 'req-1', outcome: 'success', record: 'r-1', via: 'role:admin',
    }]);
    expect(() => audit(caller, 'x', { actor: 'someone-else' })).toThrow(TypeError);
    const logged: unknown[] = [];
    createAuditor({ info: (obj, msg) => logged.push([obj, msg]) })(caller, 'y', {}, 'denied');
    expect(logged).toEqual([[expect.objectContaining({ event: 'y', outcome: 'denied' }), 'audit']]);
    expect(lines[0]).not.toHaveProperty('act');
  });

  test('a delegated call names the acting service as act; act cannot be overwritten', () => {
    const lines: AuditEntry[] = [];
    const audit = createAuditor((e) => lines.push(e));
    const caller = readCaller({ ...user, 'x-tessera-client': 'orders-service', 'x-tessera-actor': 'orders-service' }, { gatewaySecret: SECRET });
    audit(caller, 'record.read', { record: 'r-1' });
    expect(lines[0]).toMatchObject({ actor: 'u-1', actor_type: 'user', client: 'orders-service', act: 'orders-service', record: 'r-1' });
    expect(() => audit(caller, 'x', { act: 'someone-else' })).toThrow(TypeError);
  });
});
