/**
 * private_key_jwt at the upstream (docs/federation.md#private_key_jwt): a
 * bare oidc-provider upstream whose clients authenticate with
 * `token_endpoint_auth_method: private_key_jwt` and Tessera's published JWKS
 * URL. The full sign-in round trip, both assertion audiences, a key the
 * upstream does not have (a clear `upstream_client_auth_failed`), rotation
 * through the admin API with the old key kept published, step-up for
 * changing the method, and the private key absent from every answer, the
 * audit log and the logs. Runs on SQLite and PostgreSQL.
 */
import * as oidc from 'openid-client';
import { decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { freePort, startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { Browser, startUpstream } from './helpers/upstream.js';
import type { Upstream } from './helpers/upstream.js';
import { discover } from './helpers/flows.js';
import { REDIRECT } from './fixtures.js';
import { OPAL, adminApi, adminConfig, machineToken, personToken } from './helpers/admin.js';

let t: TestApp;
let up: Upstream;
let api: ReturnType<typeof adminApi>;
let bot: string;
/** The client assertions the upstream received, in order. */
const assertions: string[] = [];

const provider = (alias: string, clientId: string, extra: Record<string, unknown> = {}) => ({
  alias, type: 'oidc', display_name: alias, client_id: clientId, client_auth: 'private_key_jwt', jit: 'create', trust_email_verified: true, timeout_seconds: 5, ...extra,
});

beforeAll(async () => {
  const upstreamPort = await freePort();
  const issuer = `http://localhost:${upstreamPort}`;
  t = await startTestApp({
    config: {
      ...adminConfig(),
      identity_providers: [
        provider('corp-pk', 'tessera-pk', { issuer }),
        provider('corp-te', 'tessera-te', { issuer, client_assertion_audience: 'token_endpoint' }),
        provider('corp-rot', 'tessera-rot', { issuer }),
        // The OAuth 2.0 type (explicit endpoints, a profile endpoint): the same client authentication.
        provider('corp-oauth', 'tessera-oauth', {
          type: 'oauth2', issuer, authorization_endpoint: `${issuer}/auth`, token_endpoint: `${issuer}/token`, profile_endpoint: `${issuer}/me`, scopes: ['openid', 'email'],
        }),
        // The upstream has another key for this client: Tessera's assertions fail.
        provider('corp-wrong', 'tessera-wrong', { issuer }),
        // The upstream knows this client with a secret only: a key-signed assertion is refused.
        provider('corp-nokey', 'tessera', { issuer }),
      ],
    },
    env: { TESSERA_OUTBOUND_PRIVATE_HOSTS: 'localhost' },
  });
  const other = await generateKeyPair('RS256', { extractable: true });
  const keyClient = (clientId: string, alias: string, keys: Record<string, unknown>) => ({
    client_id: clientId, token_endpoint_auth_method: 'private_key_jwt' as const, redirect_uris: [`${t.issuer}/federation/${alias}/callback`],
    grant_types: ['authorization_code'], response_types: ['code' as const], ...keys,
  });
  up = await startUpstream(['corp-pk', 'corp-te', 'corp-rot', 'corp-oauth', 'corp-wrong', 'corp-nokey'].map((a) => `${t.issuer}/federation/${a}/callback`), upstreamPort, {
    clients: [
      keyClient('tessera-pk', 'corp-pk', { jwks_uri: `${t.issuer}/federation/corp-pk/jwks` }),
      keyClient('tessera-te', 'corp-te', { jwks_uri: `${t.issuer}/federation/corp-te/jwks` }),
      keyClient('tessera-rot', 'corp-rot', { jwks_uri: `${t.issuer}/federation/corp-rot/jwks` }),
      keyClient('tessera-oauth', 'corp-oauth', { jwks_uri: `${t.issuer}/federation/corp-oauth/jwks` }),
      keyClient('tessera-wrong', 'corp-wrong', { jwks: { keys: [{ ...(await exportJWK(other.publicKey)), kid: 'not-tesseras', alg: 'RS256', use: 'sig' }] } }),
    ],
  });
  // What reached the upstream's token endpoint, accepted or refused (oidc-provider's own events).
  const seen = (ctx: { oidc: { body?: unknown } }) => {
    const a = (ctx.oidc.body as { client_assertion?: string } | undefined)?.client_assertion;
    if (a) assertions.push(a);
  };
  up.provider.on('grant.success', seen);
  up.provider.on('grant.error', seen);
  api = adminApi(t.issuer);
  bot = await machineToken(t.issuer, 'ops-bot');
}, 120_000);
afterAll(async () => {
  await t?.close();
  await up?.close();
});

async function signIn(alias: string, sub: string) {
  up.next({ sub, email: `${sub}@corp.example`, email_verified: true });
  const config = await discover(t.issuer, { clientId: 'spa' });
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT, scope: 'openid email', state, idp_hint: alias, claims: JSON.stringify({ id_token: { email: null } }),
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  });
  const browser = new Browser();
  const out = await browser.run(await browser.get(url), url.href, REDIRECT);
  if (!out.callback) return { page: out.page! };
  const tokens = await oidc.authorizationCodeGrant(config, out.callback, { pkceCodeVerifier: verifier, expectedState: state });
  return { claims: tokens.claims()! };
}

const audit = (action: string) => t.app.store.db.selectFrom('audit_log').selectAll().where('action', '=', action).execute();

/** Every private member of every stored client key (decrypted here only to prove it never leaves). */
async function privateParts(): Promise<string[]> {
  const rows = await t.app.store.db.selectFrom('federation_client_keys' as never).selectAll().execute() as { private_jwk: string }[];
  return rows.flatMap((r) => {
    const jwk = JSON.parse(t.app.platform.kek.decrypt(r.private_jwk)) as Record<string, string>;
    return ['d', 'p', 'q', 'dp', 'dq', 'qi'].map((k) => jwk[k]!);
  });
}

describe('the published keys', () => {
  test('the JWKS URL serves public RSA keys only, with a certificate, for private_key_jwt providers only', async () => {
    const res = await fetch(`${t.issuer}/federation/corp-pk/jwks`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/jwk-set+json');
    const { keys } = await res.json() as { keys: Record<string, unknown>[] };
    expect(keys).toHaveLength(1);
    expect(Object.keys(keys[0]!).sort()).toEqual(['alg', 'e', 'kid', 'kty', 'n', 'use', 'x5c', 'x5t', 'x5t#S256']);
    expect(keys[0]).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig' });
    const rows = await t.app.store.db.selectFrom('federation_client_keys' as never).selectAll().execute() as { private_jwk: string }[];
    for (const r of rows) expect(r.private_jwk).toMatch(/^v1\./); // encrypted with the KEK
    expect((await fetch(`${t.issuer}/federation/nope/jwks`)).status).toBe(404);
  });

  test('the admin API shows the JWKS URL beside the redirect URI, and lists the keys without key material', async () => {
    const r = await api<Record<string, unknown>>('GET', '/identity-providers/corp-pk', { token: bot });
    expect(r.body).toMatchObject({
      client_auth: 'private_key_jwt', client_assertion_audience: 'issuer', secrets_set: [],
      redirect_uri: `${t.issuer}/federation/corp-pk/callback`, client_jwks_uri: `${t.issuer}/federation/corp-pk/jwks`,
    });
    const keys = await api<{ jwks_uri: string; items: Record<string, unknown>[] }>('GET', '/identity-providers/corp-pk/client-keys', { token: bot });
    expect(keys.status).toBe(200);
    expect(keys.body.jwks_uri).toBe(`${t.issuer}/federation/corp-pk/jwks`);
    expect(keys.body.items).toEqual([expect.objectContaining({ alg: 'RS256', status: 'active', retire_at: null })]);
  });
});

describe('the round trip', () => {
  test('signs in through an upstream that authenticates Tessera by its published key (aud: the issuer)', async () => {
    const before = assertions.length;
    const { claims } = await signIn('corp-pk', 'pk-1');
    expect(claims?.email).toBe('pk-1@corp.example');
    const jwt = assertions.at(-1)!;
    expect(assertions.length).toBe(before + 1);
    const { keys } = await (await fetch(`${t.issuer}/federation/corp-pk/jwks`)).json() as { keys: { kid: string; x5t: string }[] };
    expect(decodeProtectedHeader(jwt)).toMatchObject({ alg: 'RS256', kid: keys[0]!.kid, x5t: keys[0]!.x5t });
    expect(decodeJwt(jwt)).toMatchObject({ iss: 'tessera-pk', sub: 'tessera-pk', aud: up.issuer });
  });

  test('client_assertion_audience: token_endpoint puts the token endpoint URL in aud', async () => {
    const { claims } = await signIn('corp-te', 'te-1');
    expect(claims?.email).toBe('te-1@corp.example');
    expect(decodeJwt(assertions.at(-1)!).aud).toBe(`${up.issuer}/token`);
  });

  test('the OAuth 2.0 type authenticates the same way (its issuer as aud), then reads the profile endpoint', async () => {
    const { claims } = await signIn('corp-oauth', 'oa-1');
    expect(claims?.email).toBe('oa-1@corp.example');
    expect(decodeJwt(assertions.at(-1)!)).toMatchObject({ iss: 'tessera-oauth', aud: up.issuer });
  });

  test('a key the upstream does not have: 502 upstream_client_auth_failed, audited with the reason, no user', async () => {
    for (const [alias, sub] of [['corp-wrong', 'wrong-1'], ['corp-nokey', 'nokey-1']] as const) {
      const { page } = await signIn(alias, sub);
      expect(page?.status).toBe(502);
      expect(await page!.text()).toContain('upstream_client_auth_failed');
      expect(await t.app.platform.users.findByEmail('default', `${sub}@corp.example`)).toBeUndefined();
      const failed = (await audit('federation.login.failed')).map((e) => JSON.parse(e.details) as Record<string, unknown>);
      expect(failed.some((d) => d.provider === alias && d.reason === 'upstream_client_auth_failed')).toBe(true);
    }
  });
});

describe('rotation and changes', () => {
  test('staged rotation: a next key is published first, the upstream caches it, the rotation then signs with it without a failure', async () => {
    const staged = await api<{ items: { kid: string; status: string }[] }>('POST', '/identity-providers/corp-rot/client-keys/rotate', { token: bot, body: { stage: true } });
    expect(staged.status).toBe(200);
    const next = staged.body.items.find((k) => k.status === 'next')!;
    const first = staged.body.items.find((k) => k.status === 'active')!;
    const published = (await (await fetch(`${t.issuer}/federation/corp-rot/jwks`)).json() as { keys: { kid: string }[] }).keys.map((k) => k.kid);
    expect(published.sort()).toEqual([first.kid, next.kid].sort());
    // The first sign-in: the upstream fetches (and caches) both keys; the active one signs.
    expect((await signIn('corp-rot', 'rot-1')).claims?.email).toBe('rot-1@corp.example');
    expect(decodeProtectedHeader(assertions.at(-1)!).kid).toBe(first.kid);
    const done = await api<{ items: { kid: string; status: string; retire_at: string | null }[] }>('POST', '/identity-providers/corp-rot/client-keys/rotate', {
      token: bot, body: { overlap_seconds: 3600 },
    });
    expect(done.body.items.find((k) => k.status === 'active')!.kid).toBe(next.kid);
    const retiring = done.body.items.find((k) => k.status === 'retiring')!;
    expect(retiring.kid).toBe(first.kid);
    expect(Date.parse(retiring.retire_at!) - Date.now()).toBeGreaterThan(3_500_000);
    // Signed with the staged key, which the upstream already has: no refetch, no failure.
    expect((await signIn('corp-rot', 'rot-1')).claims?.email).toBe('rot-1@corp.example');
    expect(decodeProtectedHeader(assertions.at(-1)!).kid).toBe(next.kid);
    const rotated = (await audit('identity_provider.key_rotated')).map((e) => JSON.parse(e.details) as Record<string, unknown>);
    expect(rotated).toContainEqual(expect.objectContaining({ kid: next.kid, stage: true }));
    expect(rotated).toContainEqual(expect.objectContaining({ kid: next.kid, stage: false }));
  });

  test('immediate rotation: the new key signs at once, the old one stays published; an upstream still caching the old JWKS refuses until it refetches', async () => {
    const before = (await (await fetch(`${t.issuer}/federation/corp-pk/jwks`)).json() as { keys: { kid: string }[] }).keys;
    const r = await api<{ items: { kid: string; status: string }[] }>('POST', '/identity-providers/corp-pk/client-keys/rotate', { token: bot, body: {} });
    const active = r.body.items.find((k) => k.status === 'active')!;
    expect(r.body.items.find((k) => k.status === 'retiring')!.kid).toBe(before[0]!.kid);
    const after = (await (await fetch(`${t.issuer}/federation/corp-pk/jwks`)).json() as { keys: { kid: string }[] }).keys.map((k) => k.kid);
    expect(after.sort()).toEqual([active.kid, before[0]!.kid].sort());
    // oidc-provider keeps the JWKS it fetched for the URL's max-age (300 s) and does not refetch on an unknown kid: why staging exists.
    const { page } = await signIn('corp-pk', 'pk-1');
    expect(page?.status).toBe(502);
    expect(await page!.text()).toContain('upstream_client_auth_failed');
    expect(decodeProtectedHeader(assertions.at(-1)!).kid).toBe(active.kid);
  });

  test('bad input and other providers: 400 for an unknown field or too long an overlap, 404 for a provider without private_key_jwt', async () => {
    expect((await api('POST', '/identity-providers/corp-pk/client-keys/rotate', { token: bot, body: { overlap_seconds: 99_999_999 } })).status).toBe(400);
    expect((await api('POST', '/identity-providers/corp-pk/client-keys/rotate', { token: bot, body: { keys: [] } })).status).toBe(400);
    const created = await api('POST', '/identity-providers', {
      token: bot, body: { alias: 'secret-one', type: 'oidc', display_name: 'S', issuer: 'https://idp.example', client_id: 'c', client_secret: 's' },
    });
    expect(created.status).toBe(201);
    expect(created.body).not.toHaveProperty('client_jwks_uri');
    expect((await api('GET', '/identity-providers/secret-one/client-keys', { token: bot })).status).toBe(404);
    expect((await fetch(`${t.issuer}/federation/secret-one/jwks`)).status).toBe(404);
  });

  test('switching to private_key_jwt, or rotating, needs step-up like a secret; then the JWKS URL appears', async () => {
    const opal = await personToken(t.issuer, OPAL);
    const patch = await api('PATCH', '/identity-providers/secret-one', { token: opal, body: { client_auth: 'private_key_jwt' } });
    expect(patch.status).toBe(401);
    expect(patch.body.error).toBe('insufficient_user_authentication');
    expect((await api('POST', '/identity-providers/corp-pk/client-keys/rotate', { token: opal, body: {} })).status).toBe(401);
    // Other fields need none.
    expect((await api('PATCH', '/identity-providers/secret-one', { token: opal, body: { display_name: 'Secret' } })).status).toBe(200);
    const switched = await api('PATCH', '/identity-providers/secret-one', { token: bot, body: { client_auth: 'private_key_jwt' } });
    expect(switched.status).toBe(200);
    expect(switched.body.client_jwks_uri).toBe(`${t.issuer}/federation/secret-one/jwks`);
    expect((await fetch(`${t.issuer}/federation/secret-one/jwks`)).status).toBe(200);
    // Deleting the provider deletes its keys.
    expect((await api('DELETE', '/identity-providers/secret-one', { token: bot })).status).toBe(204);
    const left = await t.app.store.db.selectFrom('federation_client_keys' as never).selectAll().where('alias' as never, '=', 'secret-one' as never).execute();
    expect(left).toEqual([]);
  });

  test('no private key material in admin answers, the audit log or the logs', async () => {
    const secrets = await privateParts();
    expect(secrets.length).toBeGreaterThan(10);
    const answers = JSON.stringify([
      (await api('GET', '/identity-providers', { token: bot })).body,
      (await api('GET', '/identity-providers/corp-pk/client-keys', { token: bot })).body,
      await (await fetch(`${t.issuer}/federation/corp-pk/jwks`)).text(),
    ]);
    const auditRows = JSON.stringify(await t.app.store.db.selectFrom('audit_log').selectAll().execute());
    const logs = t.logs.join('\n');
    for (const s of secrets) {
      expect(answers).not.toContain(s);
      expect(auditRows).not.toContain(s);
      expect(logs).not.toContain(s);
    }
  });
});
