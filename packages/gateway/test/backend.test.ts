import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { TestApp } from '../../server/test/helpers/app.js';
import { ALICE, BOB, CAROL, DAVE, RECORDS_API, UPSTREAM_SECRET, call, clientToken, startBackend, startGateway, startPlatform, userToken } from './helpers.js';
import type { StartedBackend, StartedGateway } from './helpers.js';
import { withAuthenticator } from '../../server/test/helpers/admin.js';
import { totpHandler } from '../../server/test/helpers/mfa.js';

/**
 * The example backend behind the gateway: the platform issues the tokens,
 * the gateway validates them and forwards the context, the backend does the
 * domain authorization (tenant isolation, ownership, roles, audit).
 */
let t: TestApp;
let backend: StartedBackend;
let gw: StartedGateway;
const tokens: Record<'alice' | 'bob' | 'dave' | 'carol' | 'reader' | 'acmeWorker', string> = {} as never;

beforeAll(async () => {
  t = await startPlatform();
  backend = await startBackend(UPSTREAM_SECRET);
  gw = await startGateway({
    issuer: t.issuer,
    audience: RECORDS_API,
    routes: [
      { prefix: '/records', methods: ['GET', 'HEAD'], upstream: backend.url, scopes: ['records:read'] },
      { prefix: '/records', methods: ['POST', 'DELETE'], upstream: backend.url, scopes: ['records:read', 'records:write'] },
      { prefix: '/whoami', upstream: backend.url },
    ],
  }, { GATEWAY_UPSTREAM_SECRET: UPSTREAM_SECRET });
  const rw = 'records:read records:write';
  tokens.alice = await userToken(t.issuer, 'spa', ALICE, RECORDS_API, rw);
  tokens.bob = await userToken(t.issuer, 'spa', BOB, RECORDS_API, rw);
  tokens.dave = await userToken(t.issuer, 'spa', DAVE, RECORDS_API, rw);
  tokens.carol = await userToken(t.issuer, 'spa-acme', CAROL, RECORDS_API, rw);
  tokens.reader = await userToken(t.issuer, 'spa', BOB, RECORDS_API, 'records:read');
  tokens.acmeWorker = await clientToken(t.issuer, 'acme-worker', RECORDS_API, 'records:read');
});

afterAll(async () => {
  await gw?.close();
  await backend?.close();
  await t?.close();
});

type Rec = { id: string; tenant: string; owner: string; title: string };
const create = async (who: keyof typeof tokens, title: string) => {
  const r = await call(gw.url, '/records', { token: tokens[who], method: 'POST', body: { title } });
  expect(r.status).toBe(201);
  return (r.json as { record: Rec }).record;
};
const list = async (who: keyof typeof tokens) => ((await call(gw.url, '/records', { token: tokens[who] })).json as { records: Rec[] }).records;
const audits = () => backend.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.audit === true);

describe('tenant isolation', () => {
  test('records are created in the caller\'s tenant, owned by the caller', async () => {
    const a = await create('alice', 'alice in default');
    const c = await create('carol', 'carol in acme');
    const whoami = (await call(gw.url, '/whoami', { token: tokens.carol })).json as { caller: { sub: string; tenant: string } };
    expect(c).toMatchObject({ tenant: 'acme', owner: whoami.caller.sub });
    expect(a.tenant).toBe('default');
  });

  test('a user of tenant A never lists, reads or deletes tenant B\'s records (404, as if they did not exist)', async () => {
    const c = await create('carol', 'acme secret');
    expect((await list('alice')).some((r) => r.tenant !== 'default')).toBe(false);
    expect((await list('carol')).every((r) => r.tenant === 'acme')).toBe(true);

    const read = await call(gw.url, `/records/${c.id}`, { token: tokens.alice });
    const missing = await call(gw.url, '/records/00000000-0000-0000-0000-000000000000', { token: tokens.alice });
    expect(read.status).toBe(404);
    expect(read.text).toBe(missing.text);

    expect((await call(gw.url, `/records/${c.id}`, { token: tokens.dave, method: 'DELETE' })).status).toBe(404);
    expect((await call(gw.url, `/records/${c.id}`, { token: tokens.carol })).status).toBe(200);
  });

  test('a machine client acts in its own tenant', async () => {
    const rows = await list('acmeWorker');
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((r) => r.tenant === 'acme')).toBe(true);
  });

  test('a spoofed tenant header changes nothing', async () => {
    const rows = ((await call(gw.url, '/records', { token: tokens.alice, headers: { 'x-tessera-tenant': 'acme' } })).json as { records: Rec[] }).records;
    expect(rows.every((r) => r.tenant === 'default')).toBe(true);
  });
});

describe('ownership, roles, audit', () => {
  test('another user of the same tenant without a role may read but not delete', async () => {
    const a = await create('alice', 'alice owns this');
    expect((await call(gw.url, `/records/${a.id}`, { token: tokens.bob })).status).toBe(200);
    const r = await call(gw.url, `/records/${a.id}`, { token: tokens.bob, method: 'DELETE' });
    expect(r.status).toBe(403);
    expect(r.json.error).toBe('forbidden');
  });

  test('the owner deletes their record; an editor and an admin delete anyone\'s (of their tenant); each leaves an audit line', async () => {
    const own = await create('bob', 'bob owns this');
    const forEditor = await create('bob', 'an editor removes this');
    const forAdmin = await create('alice', 'an admin removes this');
    expect((await call(gw.url, `/records/${own.id}`, { token: tokens.bob, method: 'DELETE' })).status).toBe(204);
    expect((await call(gw.url, `/records/${forEditor.id}`, { token: tokens.alice, method: 'DELETE' })).status).toBe(204);
    expect((await call(gw.url, `/records/${forAdmin.id}`, { token: tokens.dave, method: 'DELETE', headers: { 'x-request-id': 'audit-trace-1' } })).status).toBe(204);

    const lines = audits();
    const by = (id: string) => lines.find((l) => l.record === id);
    expect(by(own.id)).toMatchObject({
      event: 'record.deleted', tenant: 'default', owner: own.owner, actor: own.owner, actor_type: 'user', via: 'owner', client: 'spa',
      acr: 'urn:tessera:acr:pwd', outcome: 'success',
    });
    expect(by(forEditor.id)).toMatchObject({ via: 'role:editor', owner: forEditor.owner });
    expect(by(forAdmin.id)).toMatchObject({ via: 'role:admin', request_id: 'audit-trace-1' });
    const raw = backend.logs.join('\n');
    for (const token of Object.values(tokens)) expect(raw).not.toContain(token.split('.')[2]);
  });

  test('a read-only token cannot write: refused at the gateway, the backend never sees it', async () => {
    const before = backend.logs.length;
    const r = await call(gw.url, '/records', { token: tokens.reader, method: 'POST', body: { title: 'nope' } });
    expect(r.status).toBe(403);
    expect(r.challenge).toMatch(/insufficient_scope.*scope="records:read records:write"/);
    expect(backend.logs.length).toBe(before);
  });
});

describe('step-up for a destructive operation (RFC 9470, answered by the backend)', () => {
  test('purging the tenant\'s records: no admin role is 403; an admin with a password sign-in is asked to step up; after MFA it works and is audited', async () => {
    const doomed = await create('dave', 'purged with the rest');
    expect((await call(gw.url, '/records/purge', { token: tokens.alice, method: 'POST' })).status).toBe(403);

    const weak = await call(gw.url, '/records/purge', { token: tokens.dave, method: 'POST' });
    expect(weak.status).toBe(401);
    expect(weak.json.error).toBe('insufficient_user_authentication');
    expect(weak.challenge).toMatch(/error="insufficient_user_authentication".*acr_values="urn:tessera:acr:mfa", max_age="600"/);
    expect((await call(gw.url, `/records/${doomed.id}`, { token: tokens.dave })).status).toBe(200);

    // What the client does with the challenge: sends the user through sign-in with acr_values, then retries.
    const authenticator = await withAuthenticator(t.issuer, DAVE);
    const stepped = await userToken(t.issuer, 'spa', DAVE, RECORDS_API, 'records:read records:write', { acr_values: 'urn:tessera:acr:mfa' }, totpHandler(authenticator));
    const acme = await create('carol', 'another tenant keeps this');
    const done = await call(gw.url, '/records/purge', { token: stepped, method: 'POST' });
    expect(done.status).toBe(200);
    expect((done.json as { deleted: number }).deleted).toBeGreaterThan(0);
    expect(await list('dave')).toEqual([]);
    expect((await list('carol')).map((r) => r.id)).toContain(acme.id);
    expect(audits().find((l) => l.event === 'records.purged')).toMatchObject({
      tenant: 'default', acr: 'urn:tessera:acr:mfa', via: 'role:admin', count: (done.json as { deleted: number }).deleted, actor_type: 'user',
    });
  });
});

describe('the backend trusts only the gateway', () => {
  test('a request straight to the backend with forged context headers is refused', async () => {
    const forged = { 'x-tessera-sub': 'admin', 'x-tessera-tenant': 'acme', 'x-tessera-client': 'spa', 'x-tessera-roles': 'admin' };
    expect((await call(backend.url, '/records', { headers: forged })).status).toBe(401);
    expect((await call(backend.url, '/records', { headers: { ...forged, 'x-tessera-gateway-secret': 'wrong-guess-wrong-guess' } })).status).toBe(401);
  });

  test('through the gateway, the backend sees only the gateway\'s context headers', async () => {
    const r = await call(gw.url, '/whoami', { token: tokens.alice, headers: { 'x-tessera-roles': 'admin' } });
    const body = r.json as { caller: { roles: string[]; tenant: string }; received: string[] };
    expect(body.caller).toMatchObject({ roles: ['editor'], tenant: 'default' });
    expect(body.received).toEqual([
      'x-tessera-acr', 'x-tessera-auth-time', 'x-tessera-client', 'x-tessera-gateway-secret', 'x-tessera-roles', 'x-tessera-scope', 'x-tessera-sub', 'x-tessera-tenant',
    ]);
  });
});
