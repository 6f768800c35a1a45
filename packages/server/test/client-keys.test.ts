/**
 * Key-based client authentication (issue 16, item 2; docs/b2b.md#key-based-client-authentication):
 * private_key_jwt with keys declared inline (`jwks`) or published (`jwks_uri`),
 * the assertion's audience, and jti replay protection shared by instances on
 * one database. openid-client's PrivateKeyJwt is the client; other assertions
 * are made with jose, as a partner's own code would.
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as oidc from 'openid-client';
import { SignJWT, createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import type { CryptoKey, JSONWebKeySet, JWK } from 'jose';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { adminApi, adminConfig, machineToken } from './helpers/admin.js';
import { runTessera } from './helpers/cli.js';
import { parseDeclarative } from '../src/config/load.js';
import { openStore } from '../src/storage/database.js';
import { createOidcPayloadStore } from '../src/oidc/payload-store.js';

const ORDERS = 'https://orders.example.test';
const SECRET = 'key-test-secret-0123456789-abcdefghijklmn';

interface Pair { privateKey: CryptoKey; publicJwk: JWK }
async function pair(alg: 'ES256' | 'RS256', kid: string): Promise<Pair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

let inline: Pair; // declared in the file (jwks)
let published: Pair; // served at jwks_uri
let stranger: Pair; // nobody's key
let keyServer: Server;
let keyServerHits = 0;
let jwksUri: string;
let t: TestApp;
let second: TestApp; // another instance on the same database
let api: ReturnType<typeof adminApi>;
let bot: string;

beforeAll(async () => {
  [inline, published, stranger] = await Promise.all([pair('ES256', 'inline-1'), pair('RS256', 'published-1'), pair('ES256', 'inline-1')]);
  keyServer = createServer((req, res) => {
    keyServerHits += 1;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: [published.publicJwk] }));
  });
  await new Promise<void>((r) => keyServer.listen(0, '127.0.0.1', r));
  jwksUri = `http://127.0.0.1:${(keyServer.address() as { port: number }).port}/jwks.json`;
  const base = adminConfig({
    clients: [
      { client_id: 'partner-inline', token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [inline.publicJwk] }, grant_types: ['client_credentials'], scope: 'orders:read' },
      {
        client_id: 'partner-uri', token_endpoint_auth_method: 'private_key_jwt', jwks_uri: jwksUri, token_endpoint_auth_signing_alg: 'RS256',
        grant_types: ['client_credentials'], scope: 'orders:read',
      },
      { client_id: 'partner-secret', client_secret: SECRET, grant_types: ['client_credentials'], scope: 'orders:read' },
    ],
  });
  const config = { ...base, apis: [...base.apis, { identifier: ORDERS, name: 'Orders', scopes: ['orders:read', 'orders:write'] }] };
  const env = { TESSERA_OUTBOUND_PRIVATE_HOSTS: '127.0.0.1' };
  t = await startTestApp({ config, env });
  const store = openStore(t.testStore.url, t.testStore.schema ? { schema: t.testStore.schema } : {});
  // Instances behind one load balancer share the issuer (the assertion's audience).
  // …and, in the suite's Redis mode, the Redis key prefix (the replay record lives there then).
  const shared = { TESSERA_ISSUER: t.issuer, ...(t.settings.redisUrl ? { TESSERA_REDIS_PREFIX: t.settings.redisPrefix } : {}) };
  second = await startTestApp({ config, env: { ...env, ...shared }, testStore: { ...t.testStore, store, dispose: () => store.close() } });
  api = adminApi(t.issuer);
  bot = await machineToken(t.issuer, 'ops-bot');
}, 120_000);
afterAll(async () => {
  await second?.close();
  await second?.testStore.dispose();
  await t?.close();
  await new Promise((r) => keyServer?.close(r));
});

async function partner(issuer: string, clientId: string, key: CryptoKey): Promise<oidc.Configuration> {
  return oidc.discovery(new URL(issuer), clientId, undefined, oidc.PrivateKeyJwt(key), { execute: [oidc.allowInsecureRequests] });
}

/** An RFC 7523 client assertion, as a partner's own code makes one. */
function assertion(clientId: string, key: CryptoKey, opts: { aud?: string; jti?: string; alg?: string; kid?: string; exp?: number } = {}): Promise<string> {
  return new SignJWT({ jti: opts.jti ?? randomUUID() })
    .setProtectedHeader({ alg: opts.alg ?? 'ES256', ...(opts.kid ? { kid: opts.kid } : {}) })
    .setIssuer(clientId).setSubject(clientId).setAudience(opts.aud ?? t.issuer)
    .setIssuedAt().setExpirationTime(opts.exp ?? Math.floor(Date.now() / 1000) + 60)
    .sign(key);
}

/** `at`: the instance's own address (the issuer is the same for both). */
async function tokenWith(at: string, clientId: string, jwt: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${at}/oidc/token`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials', client_id: clientId, resource: ORDERS, scope: 'orders:read',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: jwt,
    }),
  });
  return { status: res.status, body: await res.json() as Record<string, unknown> };
}

async function verified(accessToken: string) {
  const jwks = createLocalJWKSet(await (await fetch(`${t.issuer}/oidc/jwks`)).json() as JSONWebKeySet);
  return (await jwtVerify(accessToken, jwks, { issuer: t.issuer, audience: ORDERS })).payload;
}

describe('private_key_jwt', () => {
  test('openid-client with PrivateKeyJwt gets a client-credentials token (jwks in the file)', async () => {
    const tokens = await oidc.clientCredentialsGrant(await partner(t.issuer, 'partner-inline', inline.privateKey), { scope: 'orders:read', resource: ORDERS });
    expect(await verified(tokens.access_token)).toMatchObject({ client_id: 'partner-inline', sub: 'partner-inline', scope: 'orders:read' });
  });

  test('keys published at jwks_uri are fetched, and the declared signing algorithm is enforced', async () => {
    const before = keyServerHits;
    const tokens = await oidc.clientCredentialsGrant(await partner(t.issuer, 'partner-uri', published.privateKey), { scope: 'orders:read', resource: ORDERS });
    expect(await verified(tokens.access_token)).toMatchObject({ client_id: 'partner-uri' });
    expect(keyServerHits).toBeGreaterThan(before);
    // token_endpoint_auth_signing_alg: RS256; an ES256 assertion is refused even before its key is looked at.
    const es = await tokenWith(t.issuer, 'partner-uri', await assertion('partner-uri', inline.privateKey));
    expect(es).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
  });

  test('an assertion is accepted once, on every instance; a fresh one works on either', async () => {
    const jwt = await assertion('partner-inline', inline.privateKey);
    expect((await tokenWith(t.issuer, 'partner-inline', jwt)).status).toBe(200);
    expect(await tokenWith(t.issuer, 'partner-inline', jwt)).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    // The other instance shares the replay record (the database), not a memory cache.
    expect(await tokenWith(`http://127.0.0.1:${second.port}`, 'partner-inline', jwt)).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    // Two instances racing with one new assertion: exactly one wins.
    const raced = await assertion('partner-inline', inline.privateKey);
    const answers = await Promise.all([tokenWith(t.issuer, 'partner-inline', raced), tokenWith(`http://127.0.0.1:${second.port}`, 'partner-inline', raced)]);
    expect(answers.map((a) => a.status).sort()).toEqual([200, 401]);
    expect((await tokenWith(`http://127.0.0.1:${second.port}`, 'partner-inline', await assertion('partner-inline', inline.privateKey))).status).toBe(200);
  });

  test('an assertion signed with another key, for another audience, or expired is invalid_client', async () => {
    // Same kid, different key: the signature decides.
    expect(await tokenWith(t.issuer, 'partner-inline', await assertion('partner-inline', stranger.privateKey, { kid: 'inline-1' })))
      .toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    for (const aud of ['https://elsewhere.example.test', `${t.issuer}/oidc/token/introspection`, ORDERS]) {
      expect(await tokenWith(t.issuer, 'partner-inline', await assertion('partner-inline', inline.privateKey, { aud })))
        .toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    }
    // The token endpoint's own URL is an accepted audience, as is the issuer.
    expect((await tokenWith(t.issuer, 'partner-inline', await assertion('partner-inline', inline.privateKey, { aud: `${t.issuer}/oidc/token` }))).status).toBe(200);
    const expired = await assertion('partner-inline', inline.privateKey, { exp: Math.floor(Date.now() / 1000) - 60 });
    expect(await tokenWith(t.issuer, 'partner-inline', expired)).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    // A key client cannot fall back to a secret, and a secret client cannot use an assertion.
    const basic = await fetch(`${t.issuer}/oidc/token`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`partner-inline:${SECRET}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'client_credentials' }),
    });
    expect(basic.status).toBe(401);
    expect(await tokenWith(t.issuer, 'partner-secret', await assertion('partner-secret', inline.privateKey))).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
  });

  test('the replay record: claimed once per id, in one store shared by connections', async () => {
    const a = createOidcPayloadStore(t.testStore.store.db, 'replay-test-key');
    const b = createOidcPayloadStore(second.testStore.store.db, 'replay-test-key');
    expect(await a.insertOnce('ReplayDetection', 'jti-1', { iss: 'x' }, 60)).toBe(true);
    expect(await b.insertOnce('ReplayDetection', 'jti-1', { iss: 'x' }, 60)).toBe(false);
    expect(await a.insertOnce('ReplayDetection', 'jti-1', { iss: 'x' }, 60)).toBe(false);
    expect(await b.insertOnce('ReplayDetection', 'jti-2', { iss: 'x' }, 60)).toBe(true);
    // An expired record no longer counts (not yet swept): a past expiry is written as already expired.
    await t.testStore.store.db.updateTable('oidc_payloads').set({ expires_at: Date.now() - 1000 }).where('model', '=', 'ReplayDetection').execute();
    expect(await b.insertOnce('ReplayDetection', 'jti-1', { iss: 'x' }, 60)).toBe(true);
  });

  test('discovery lists private_key_jwt and the assertion algorithms', async () => {
    const md = await (await fetch(`${t.issuer}/.well-known/openid-configuration`)).json() as Record<string, string[]>;
    expect(md.token_endpoint_auth_methods_supported).toContain('private_key_jwt');
    expect(md.token_endpoint_auth_signing_alg_values_supported).toEqual(expect.arrayContaining(['RS256', 'PS256', 'ES256', 'EdDSA']));
  });
});

describe('declaring keys', () => {
  const file = (client: Record<string, unknown>) => JSON.stringify({ clients: [{ client_id: 'p', grant_types: ['client_credentials'], ...client }] });
  const problems = (client: Record<string, unknown>) => {
    try {
      parseDeclarative(file(client), 'tessera.yaml');
      return '';
    } catch (err) {
      return (err as Error).message;
    }
  };

  test('the file refuses private keys, missing keys, a secret beside keys and plain-http key URLs', async () => {
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const privateJwk = await exportJWK(privateKey);
    expect(problems({ token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [privateJwk] } }))
      .toMatch(/clients\[0\]\.jwks\.keys\[0\]: must be a public key: it contains the private member d/);
    expect(problems({ token_endpoint_auth_method: 'private_key_jwt' })).toMatch(/clients\[0\]\.jwks: or jwks_uri is required when token_endpoint_auth_method is private_key_jwt/);
    expect(problems({ token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [inline.publicJwk] }, client_secret: SECRET }))
      .toMatch(/clients\[0\]\.client_secret: must not be set for a private_key_jwt client/);
    expect(problems({ token_endpoint_auth_method: 'private_key_jwt', jwks_uri: 'http://keys.example.test/jwks.json' })).toMatch(/clients\[0\]\.jwks_uri: must be an https:\/\/ URL/);
    expect(problems({ token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] } })).toMatch(/clients\[0\]\.jwks\.keys\[0\]\.kty: must be RSA, EC or OKP/);
    expect(problems({ client_secret: SECRET, jwks: { keys: [inline.publicJwk] } })).toMatch(/clients\[0\]\.jwks: needs token_endpoint_auth_method: private_key_jwt/);
    expect(problems({ token_endpoint_auth_method: 'private_key_jwt', jwks_uri: 'https://keys.example.test/jwks.json' })).toBe('');
  });

  test('admin API: a key client is created without a secret; a secret client moves to keys and its secret stops', async () => {
    const created = await api<Record<string, unknown>>('POST', '/clients', {
      token: bot, body: { client_id: 'api-key-client', token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [inline.publicJwk] }, grant_types: ['client_credentials'], scope: 'orders:read' },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ has_secret: false, token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [inline.publicJwk] } });
    expect(created.body).not.toHaveProperty('client_secret');
    expect((await tokenWith(t.issuer, 'api-key-client', await assertion('api-key-client', inline.privateKey))).status).toBe(200);
    const rotate = await api('POST', '/clients/api-key-client/secret', { token: bot, body: {} });
    expect(rotate.status).toBe(409);

    const refused = await api<{ fields: Record<string, string> }>('POST', '/clients', {
      token: bot, body: { client_id: 'leaky', token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [await exportJWK((await generateKeyPair('ES256', { extractable: true })).privateKey)] }, grant_types: ['client_credentials'] },
    });
    expect(refused.status).toBe(400);
    expect(Object.keys(refused.body.fields)).toEqual(['jwks.keys.0']);

    const plain = await api<Record<string, string>>('POST', '/clients', { token: bot, body: { client_id: 'moving', grant_types: ['client_credentials'], scope: 'orders:read' } });
    const secret = plain.body.client_secret!;
    const basic = () => fetch(`${t.issuer}/oidc/token`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`moving:${secret}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'client_credentials' }),
    });
    expect((await basic()).status).toBe(200);
    const moved = await api<Record<string, unknown>>('PATCH', '/clients/moving', {
      token: bot, headers: { 'if-match': plain.headers.get('etag')! }, body: { token_endpoint_auth_method: 'private_key_jwt', jwks_uri: jwksUri },
    });
    expect(moved.status).toBe(200);
    expect(moved.body).toMatchObject({ has_secret: false, jwks_uri: jwksUri });
    expect((await basic()).status).toBe(401);
    expect((await tokenWith(t.issuer, 'moving', await assertion('moving', published.privateKey, { alg: 'RS256' }))).status).toBe(200);
    // And not back: a secret cannot appear through an edit.
    const back = await api<{ fields: Record<string, string> }>('PATCH', '/clients/moving', {
      token: bot, headers: { 'if-match': moved.headers.get('etag')! }, body: { token_endpoint_auth_method: 'client_secret_basic', jwks_uri: null },
    });
    expect(back).toMatchObject({ status: 400, body: { fields: { token_endpoint_auth_method: 'cannot_change_client_type' } } });
  });

  test('CLI: clients create --jwks FILE registers a key client and prints no secret', async () => {
    const file = join(t.testStore.dir, 'partner-jwks.json');
    writeFileSync(file, JSON.stringify({ keys: [inline.publicJwk] }));
    const out = await runTessera(['clients', 'create', '--id', 'cli-key-client', '--jwks', file, '--scope', 'orders:read'], {
      DATABASE_URL: t.testStore.schema ? `${t.testStore.url}?schema=${t.testStore.schema}` : t.testStore.url,
      TESSERA_DATA_DIR: t.testStore.dir, TESSERA_SECRET: 'test-secret-test-secret-test-secret', TESSERA_ISSUER: t.issuer,
    });
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toContain('token_endpoint_auth_method: private_key_jwt');
    expect(out.stdout).not.toContain('client_secret:');
    expect((await tokenWith(t.issuer, 'cli-key-client', await assertion('cli-key-client', inline.privateKey))).status).toBe(200);
    const missing = await runTessera(['clients', 'create', '--id', 'cli-x', '--jwks', join(t.testStore.dir, 'nope.json')], { DATABASE_URL: t.testStore.url });
    expect(missing).toMatchObject({ code: 2, stderr: expect.stringContaining('no such file') });
  });
});
