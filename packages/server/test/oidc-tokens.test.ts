import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as oidc from 'openid-client';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import type { JSONWebKeySet } from 'jose';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { UserAgent } from './helpers/agent.js';
import { codeFlow, discover } from './helpers/flows.js';
import { API, baseConfig, CONF_SECRET, SERVICE_SECRET, USER } from './fixtures.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ config: baseConfig });
});
afterAll(async () => {
  await t?.close();
});

const fetchJwks = async () => (await (await fetch(`${t.issuer}/oidc/jwks`)).json()) as JSONWebKeySet;

async function serviceToken(): Promise<string> {
  const config = await discover(t.issuer, { clientId: 'service', clientSecret: SERVICE_SECRET, auth: 'basic' });
  const tokens = await oidc.clientCredentialsGrant(config, { scope: 'read write', resource: API });
  return tokens.access_token;
}

describe('client credentials', () => {
  test('yields an ES256 JWT for the API that jose verifies against the JWKS', async () => {
    const token = await serviceToken();
    const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(await fetchJwks()), { issuer: t.issuer, audience: API });
    expect(protectedHeader.alg).toBe('ES256');
    expect(protectedHeader.typ).toBe('at+jwt'); // RFC 9068
    expect(payload.client_id).toBe('service');
    expect(payload.sub).toBe('service');
    expect(payload.tenant).toBe('acme');
    expect(String(payload.scope).split(' ').sort()).toEqual(['read', 'write']);
    expect((payload.exp as number) - (payload.iat as number)).toBe(600); // the API's access_token_ttl
  });

  test('a scope the API does not define is not granted (RFC 6749 §3.3: the issued scope says so)', async () => {
    const config = await discover(t.issuer, { clientId: 'service', clientSecret: SERVICE_SECRET, auth: 'basic' });
    const tokens = await oidc.clientCredentialsGrant(config, { scope: 'read delete', resource: API });
    expect(tokens.scope).toBe('read');
    const { payload } = await jwtVerify(tokens.access_token, createLocalJWKSet(await fetchJwks()), { issuer: t.issuer, audience: API });
    expect(payload.scope).toBe('read');
  });

  test('an unknown resource is refused with invalid_target', async () => {
    const config = await discover(t.issuer, { clientId: 'service', clientSecret: SERVICE_SECRET, auth: 'basic' });
    await expect(oidc.clientCredentialsGrant(config, { resource: 'https://unknown.example.test' })).rejects.toMatchObject({ error: 'invalid_target' });
  });

  test('a public client cannot use client credentials', async () => {
    const res = await fetch(`${t.issuer}/oidc/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: 'spa' }),
    });
    const body = (await res.json()) as { error: string; error_description: string };
    expect(res.status).toBe(400);
    // The engine answers invalid_request here (not unauthorized_client); what matters is that no token is issued.
    expect(body.error).toBe('invalid_request');
    expect(body.error_description).toContain('grant type is not allowed');
  });
});

describe('introspection and revocation', () => {
  test('introspection says active, then inactive after revocation', async () => {
    const rp = await discover(t.issuer, { clientId: 'web', clientSecret: CONF_SECRET, auth: 'basic' });
    const { tokens } = await codeFlow(rp, new UserAgent(), t.issuer, USER);
    const before = await oidc.tokenIntrospection(rp, tokens.access_token);
    expect(before.active).toBe(true);
    expect(before.client_id).toBe('web');
    expect(before.sub).toBeTruthy();
    await oidc.tokenRevocation(rp, tokens.access_token);
    const after = await oidc.tokenIntrospection(rp, tokens.access_token);
    expect(after.active).toBe(false);
    const unknown = await oidc.tokenIntrospection(rp, 'not-a-token-at-all');
    expect(unknown.active).toBe(false);
  });

  test('a revoked refresh token can no longer be used', async () => {
    const rp = await discover(t.issuer, { clientId: 'web', clientSecret: CONF_SECRET, auth: 'basic' });
    const { tokens } = await codeFlow(rp, new UserAgent(), t.issuer, USER);
    await oidc.tokenRevocation(rp, tokens.refresh_token!, { token_type_hint: 'refresh_token' });
    await expect(oidc.refreshTokenGrant(rp, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  test('introspection requires client authentication', async () => {
    const res = await fetch(`${t.issuer}/oidc/token/introspection`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: 'x' }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toBe('invalid_request');
  });
});

describe('secrets at rest', () => {
  test('client secrets are stored hashed', async () => {
    const row = await t.testStore.store.db.selectFrom('clients').selectAll().where('client_id', '=', 'web').executeTakeFirstOrThrow();
    expect(row.secret_hash).toBeTruthy();
    expect(row.secret_hash).not.toContain(CONF_SECRET);
    expect(row.metadata).not.toContain(CONF_SECRET);
  });

  test('private signing keys are encrypted at rest', async () => {
    const rows = await t.testStore.store.db.selectFrom('signing_keys').selectAll().execute();
    expect(rows.length).toBeGreaterThanOrEqual(2);
    for (const r of rows) {
      expect(r.private_jwk.startsWith('v1.')).toBe(true);
      expect(r.private_jwk).not.toContain('"d"');
      expect(r.public_jwk).not.toContain('"d"');
    }
  });
});

describe('key rotation', () => {
  test('old tokens stay verifiable, new tokens use the new key, retired keys disappear', async () => {
    const oldToken = await serviceToken();
    const oldKid = decodeProtectedHeader(oldToken).kid!;
    await t.app.rotateKeys();

    const afterRotation = await fetchJwks();
    expect(afterRotation.keys.map((k) => k.kid)).toContain(oldKid);
    await jwtVerify(oldToken, createLocalJWKSet(afterRotation), { issuer: t.issuer, audience: API });

    const newToken = await serviceToken();
    const newKid = decodeProtectedHeader(newToken).kid!;
    expect(newKid).not.toBe(oldKid);
    await jwtVerify(newToken, createLocalJWKSet(afterRotation), { issuer: t.issuer, audience: API });

    const listed = await t.app.keys.list();
    expect(listed.find((k) => k.kid === oldKid)?.status).toBe('retiring');
    expect(listed.filter((k) => k.status === 'active').map((k) => k.alg).sort()).toEqual(['ES256', 'RS256']);

    // Once the overlap has passed (simulated), the old key is unpublished.
    await t.app.keys.retireDue(Date.now() + 400 * 24 * 3600 * 1000);
    await t.app.reloadKeys();
    const later = await fetchJwks();
    expect(later.keys.map((k) => k.kid)).not.toContain(oldKid);
    expect(later.keys.map((k) => k.kid)).toContain(newKid);
    await expect(jwtVerify(oldToken, createLocalJWKSet(later), { issuer: t.issuer, audience: API })).rejects.toThrow();
  });
});
