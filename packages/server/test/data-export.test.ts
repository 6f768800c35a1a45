/**
 * Privileged data export (docs/admin.md#data-export) and the export of one's
 * own data on the account pages (docs/identity.md#your-data): what the
 * document holds (and that no secret is in it), step-up, tenant boundaries,
 * the audit entry, the hourly limits.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { UserAgent } from './helpers/agent.js';
import { codeFlow, discover } from './helpers/flows.js';
import { page, signedInBrowser, submit } from './helpers/account.js';
import {
  ACME_ADMIN, OPAL, PASSWORD, PLATFORM_ADMIN, adminApi, adminConfig, enrollingToken, machineToken, person, personToken, steppedUpToken, withAuthenticator,
} from './helpers/admin.js';
import { CONF_SECRET, REDIRECT } from './fixtures.js';
import { enrollTotp, signInToAccount, totpHandler } from './helpers/mfa.js';
import type { Authenticator } from './helpers/mfa.js';
import { createAuditRepository } from '../src/audit/repository.js';
import { createExternalLinkRepository } from '../src/federation/links.js';
import { AccountSessions } from '../src/account/session.js';
import type { CurrentAccount } from '../src/account/session.js';
import { ADMIN_EXPORTS_PER_HOUR, SELF_EXPORTS_PER_HOUR } from '../src/privacy/limits.js';

type Export = Record<string, unknown> & {
  format: string; user: Record<string, unknown>; attributes: Record<string, unknown>; external_ids: Record<string, string>;
  identity_provider_links: Array<Record<string, unknown>>; memberships: Array<{ tenant: string; home: boolean; roles: string[] }>;
  second_factors: Array<{ kind: string; label: string }>; sessions: Array<Record<string, unknown>>;
  consents: Array<{ client_id: string; scopes: string[] }>; audit: { truncated: boolean; entries: Array<{ action: string; actor: string | null; subject: string | null }> };
};

let t: TestApp;
let api: ReturnType<typeof adminApi>;
const tokens: Record<'opal' | 'adminMfa' | 'ada' | 'adaMfa' | 'bot', string> = {} as never;
let erinId: string;
let erinSecret: string;
let erinAuthenticator: Authenticator | undefined;

beforeAll(async () => {
  const base = adminConfig({
    users: [person('erin', { tenant: 'acme', roles: ['auditor'], attributes: { team: 'red' }, phone_number: '+4930123456' })],
    // A third-party application of acme: signing in asks for consent.
    clients: [{ client_id: 'acme-web', client_secret: CONF_SECRET, redirect_uris: [REDIRECT], grant_types: ['authorization_code'], token_endpoint_auth_method: 'client_secret_basic', tenant: 'acme' }],
  });
  t = await startTestApp({ config: { ...base, attributes: [{ name: 'team', type: 'enum', values: ['red', 'blue'], tenant: 'acme', account: 'edit' }] } });
  api = adminApi(t.issuer);
  Object.assign(tokens, {
    opal: await personToken(t.issuer, OPAL),
    ada: await personToken(t.issuer, ACME_ADMIN, { client: 'acme-console' }),
    bot: await machineToken(t.issuer, 'ops-bot'),
  });
  tokens.adminMfa = await steppedUpToken(t.issuer, PLATFORM_ADMIN, await withAuthenticator(t.issuer, PLATFORM_ADMIN));
  tokens.adaMfa = (await enrollingToken(t.issuer, ACME_ADMIN, 'acme-console-mfa')).token;

  // Erin (acme) has data everywhere: an external id, a link, a membership in globex, an authenticator, a session and a consent.
  erinId = (await t.app.platform.users.findByUsername('acme', 'erin'))!.id;
  expect((await api('PATCH', `/users/${erinId}`, { token: tokens.bot, body: { external_ids: { crm: 'C-42' } }, headers: { 'if-match': '*' } })).status).toBe(200);
  await createExternalLinkRepository(t.app.store.db).link({ tenantId: 'acme', provider: 'google', subject: 'g-123', userId: erinId, email: 'erin@gmail.test' });
  expect((await api('PUT', `/users/${erinId}/memberships/globex`, { token: tokens.adminMfa })).status).toBe(200);
  const enrolled = await enrollTotp(await erinAccount(), t.issuer, 'Erin phone');
  erinAuthenticator = enrolled.authenticator;
  erinSecret = enrolled.authenticator.secret;
  // A consent to a third-party client: the consent page is answered.
  const web = await discover(t.issuer, { clientId: 'acme-web', clientSecret: CONF_SECRET, auth: 'basic' });
  await codeFlow(web, new UserAgent(), t.issuer, { username: 'erin', password: PASSWORD }, { scope: 'openid email' }, { mfa: totpHandler(erinAuthenticator) });
}, 120_000);
afterAll(async () => {
  await t?.close();
});

/** Erin signed in to the account pages of acme (`?tenant=`), as a browser would (with her authenticator once she has one). */
function erinAccount(): Promise<UserAgent> {
  return signInToAccount(t.issuer, { username: 'erin', password: PASSWORD }, erinAuthenticator ? totpHandler(erinAuthenticator) : undefined, 'acme');
}

const exportOf = (id: string, token: string) => api<Export>('GET', `/users/${id}/export`, { token });

describe('the admin API export', () => {
  test('needs a recent MFA sign-in (401 step-up); clients need none', async () => {
    const weak = await exportOf(erinId, tokens.opal);
    expect(weak.status).toBe(401);
    expect(weak.headers.get('www-authenticate')).toContain('insufficient_user_authentication');
    expect((await exportOf(erinId, tokens.bot)).status).toBe(200);
  });

  test('tenant boundaries: a tenant administrator exports their tenant\'s users only (404 elsewhere)', async () => {
    expect((await exportOf(erinId, tokens.adaMfa)).status).toBe(200);
    const dora = (await t.app.platform.users.findByUsername('default', 'alice'))!;
    expect((await exportOf(dora.id, tokens.adaMfa)).status).toBe(404);
    expect((await exportOf('00000000-0000-0000-0000-000000000000', tokens.adminMfa)).status).toBe(404);
  });

  test('the document: profile, attributes, external ids, links, memberships and roles, factors, sessions, consents, audit — and no secret', async () => {
    const res = await exportOf(erinId, tokens.adminMfa);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="tessera-user-${erinId}.json"`);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const doc = res.body;
    expect(doc).toMatchObject({
      format: 'tessera.user-export/1', issuer: t.issuer,
      user: { id: erinId, tenant: 'acme', username: 'erin', email: 'erin@example.test', email_verified: true, phone_number: '+4930123456', has_password: true, status: 'active' },
      attributes: { team: 'red' },
      external_ids: { crm: 'C-42' },
      identity_provider_links: [{ provider: 'google', subject: 'g-123', email: 'erin@gmail.test' }],
    });
    expect(doc.memberships).toEqual([{ tenant: 'acme', home: true, roles: ['auditor'] }, { tenant: 'globex', home: false, roles: [] }]);
    expect(doc.second_factors.map((f) => `${f.kind}:${f.label}`)).toContain('totp:Erin phone');
    expect(doc.second_factors.some((f) => f.kind === 'recovery_code')).toBe(true);
    expect(doc.sessions.length).toBeGreaterThan(0);
    expect(doc.sessions[0]).toMatchObject({ ip: expect.any(String), signed_in_at: expect.any(String) });
    // The tenant of the session's last sign-in (here the home tenant, through the account pages).
    expect(doc.sessions[0]!.signed_in_tenant).toBe((doc as unknown as { user: { tenant: string } }).user.tenant);
    expect(doc.consents.map((c) => c.client_id)).toContain('acme-web');
    const actions = doc.audit.entries.map((e) => e.action);
    for (const a of ['login.succeeded', 'mfa.enrolled', 'membership.added', 'user.updated']) expect(actions).toContain(a);
    expect(doc.audit.truncated).toBe(false);

    const text = JSON.stringify(doc);
    const stored = (await t.app.platform.users.findById(erinId))!;
    expect(text).not.toContain(stored.passwordHash!);
    expect(text).not.toContain('$argon2id$');
    expect(text).not.toContain(erinSecret);
    expect(text).not.toMatch(/"(password|secret|code_hash|public_key|token)"/);
  });

  test('audited: user.exported with the actor; at most ADMIN_EXPORTS_PER_HOUR per caller and hour, then 429 with Retry-After', async () => {
    const entries = await createAuditRepository(t.app.store.db).query({ subjectId: erinId, action: 'user.exported' });
    expect(entries.length).toBeGreaterThan(0);
    expect(entries[0]).toMatchObject({ tenantId: 'acme', details: { via: 'admin_api', format: 'tessera.user-export/1' } });
    // ops-bot made one export above; use up the rest.
    const machine = await machineToken(t.issuer, 'acme-bot');
    let last = 0;
    for (let i = 0; i < ADMIN_EXPORTS_PER_HOUR; i++) last = (await exportOf(erinId, machine)).status;
    expect(last).toBe(200);
    const limited = await exportOf(erinId, machine);
    expect(limited.status).toBe(429);
    expect(limited.body).toMatchObject({ error: 'too_many_requests' });
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(3000);
    // Another caller's allowance is its own.
    expect((await exportOf(erinId, tokens.bot)).status).toBe(200);
  });
});

describe('one\'s own data on the account pages', () => {
  test('/account/data downloads the same document (after a recent sign-in), audited as via account; limited per hour', async () => {
    const agent = await erinAccount();
    const view = await page(agent, `${t.issuer}/account/data`);
    expect(view.status).toBe(200);
    expect(view.html).toContain('Download my data');
    const res = await submit(agent, `${t.issuer}/account/data`, `${t.issuer}/account/data/export`, {});
    expect(res.status).toBe(200);
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="tessera-my-data-${erinId}.json"`);
    const mine = await res.json() as Export;
    expect(mine).toMatchObject({ format: 'tessera.user-export/1', user: { id: erinId }, attributes: { team: 'red' }, external_ids: { crm: 'C-42' } });
    const [entry] = await createAuditRepository(t.app.store.db).query({ subjectId: erinId, action: 'user.exported' });
    expect(entry).toMatchObject({ actorId: erinId, details: { via: 'account' } });

    for (let i = 1; i < SELF_EXPORTS_PER_HOUR; i++) expect((await submit(agent, `${t.issuer}/account/data`, `${t.issuer}/account/data/export`, {})).status).toBe(200);
    const limited = await submit(agent, `${t.issuer}/account/data`, `${t.issuer}/account/data/export`, {});
    expect(limited.status).toBe(429);
    expect(await limited.text()).toContain('You downloaded your data several times in the last hour.');
    // Without the form token: refused.
    expect((await agent.post(`${t.issuer}/account/data/export`, {})).status).toBe(403);
  });

  test('freshness: a sign-in older than the window (or without MFA where MFA is needed) is not fresh', () => {
    const sessions = t.app.platform.accountSessions as AccountSessions;
    const now = Date.now();
    const account = (authTime: number, acr: string): CurrentAccount => ({ user: {} as never, sid: 's', authTime, acr });
    const at = Math.floor(now / 1000);
    expect(sessions.isFresh(account(at - 599, 'urn:tessera:acr:pwd'), { maxAge: 600 }, now)).toBe(true);
    expect(sessions.isFresh(account(at - 601, 'urn:tessera:acr:mfa'), { maxAge: 600 }, now)).toBe(false);
    expect(sessions.isFresh(account(at - 10, 'urn:tessera:acr:pwd'), { maxAge: 600, acr: 'mfa' }, now)).toBe(false);
    expect(sessions.isFresh(account(at - 10, 'urn:tessera:acr:mfa'), { maxAge: 600, acr: 'mfa' }, now)).toBe(true);
    expect(sessions.isFresh({ user: {} as never, sid: 's', authTime: null, acr: null }, { maxAge: 600 }, now)).toBe(false);
  });
});

describe('the account session knows its sign-in', () => {
  test('auth_time and acr come from the ID token (a freshly signed-in account is fresh)', async () => {
    const { agent } = await signedInBrowser(t.issuer, { username: 'alice', password: 'correct horse battery staple' });
    expect((await page(agent, `${t.issuer}/account/data`)).status).toBe(200);
    // A download right away needs no second sign-in: the session's auth_time is now.
    const res = await submit(agent, `${t.issuer}/account/data`, `${t.issuer}/account/data/export`, {});
    expect(res.status).toBe(200);
  });
});
