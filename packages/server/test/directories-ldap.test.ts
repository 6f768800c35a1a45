/**
 * LDAP / Active Directory (docs/directories.md) against Debian's real `slapd`
 * (with the memberof overlay, over LDAPS with a pinned CA) and the mock
 * directory (Active Directory's bind diagnostics): bind sign-in on the hosted
 * page with the generic answer, lockout and throttle of local passwords,
 * roles from groups, sync (`ldapmodify` / `ldapdelete` then a sync), and a
 * stopped directory (503 for its people; local users still sign in).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as oidc from 'openid-client';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { UserAgent, formAction } from './helpers/agent.js';
import { codeFlow, discover } from './helpers/flows.js';
import { REDIRECT, baseConfig } from './fixtures.js';
import { groupLdif, personLdif, startSlapd } from './helpers/slapd.js';
import type { Slapd } from './helpers/slapd.js';
import { startMockProviders } from '../../mock-providers/src/index.js';
import type { MockProviders } from '../../mock-providers/src/index.js';
import { createAuditRepository } from '../src/audit/repository.js';
import { createUserRepository } from '../src/identity/repository.js';
import { createExternalLinkRepository } from '../src/federation/links.js';
import { directoriesOf } from '../src/directories/feature.js';
import { DirectoryBusyError, UnknownProviderError } from '../src/directories/ldap/sync.js';
import { ldapProviderOf } from '../src/directories/ldap/config.js';
import { parseProviderConfig } from '../src/federation/provider-config.js';
import { LdapConnector } from '../src/directories/ldap/client.js';

const LOCAL_PASSWORD = 'a long enough local password';
const MAX_FAILURES = 3;
let slapd: Slapd;
let mock: MockProviders;
let t: TestApp;

const people = [
  { uid: 'ann', cn: 'Ann Archer', sn: 'Archer', givenName: 'Ann', mail: 'ann@corp.test', password: 'ann-directory-pw' },
  { uid: 'ben', cn: 'Ben Baker', sn: 'Baker', givenName: 'Ben', mail: 'ben@corp.test', password: 'ben-directory-pw' },
  { uid: 'cat', cn: 'Cat Cole', sn: 'Cole', mail: 'cat@corp.test', password: 'cat-directory-pw' },
  { uid: 'dan', cn: 'Dan Dunn', sn: 'Dunn', mail: 'dan@corp.test', password: 'dan-directory-pw' },
  // Same address as a local account: never linked silently.
  { uid: 'lou', cn: 'Lou Local', sn: 'Local', mail: 'lou@corp.test', password: 'lou-directory-pw' },
];

beforeAll(async () => {
  slapd = await startSlapd();
  await slapd.ldapmodify(people.map((p) => personLdif(slapd.baseDn, p)).join('\n'), true);
  await slapd.ldapmodify([groupLdif(slapd.baseDn, 'engineers', ['ann', 'ben']), groupLdif(slapd.baseDn, 'operators', ['ann'])].join('\n'), true);
  mock = await startMockProviders({ port: 0, ldap: { port: 0, ldapsPort: 0 } });
  const dir = mock.ldap!;
  t = await startTestApp({
    config: {
      ...baseConfig,
      tenants: [
        { id: 'default', name: 'Default', policy: { lockout: { max_failures: MAX_FAILURES, window_seconds: 600, duration_seconds: 600 } } },
        ...baseConfig.tenants,
      ],
      roles: [...baseConfig.roles, { name: 'engineer', tenant: 'default' }, { name: 'operator', tenant: 'default' }, { name: 'staff', tenant: 'acme' }],
      clients: [...baseConfig.clients, {
        client_id: 'acme-spa', token_endpoint_auth_method: 'none', redirect_uris: [REDIRECT], grant_types: ['authorization_code'],
        tenant: 'acme', first_party: true, scope: 'openid profile email',
      }],
      users: [...baseConfig.users,
        { username: 'localuser', email: 'localuser@example.test', email_verified: true, password: LOCAL_PASSWORD },
        { username: 'lou-local', email: 'lou@corp.test', email_verified: true, password: LOCAL_PASSWORD }],
      identity_providers: [
        {
          alias: 'corp', type: 'ldap', display_name: 'Corp directory', jit: 'create', trust_email_verified: true, url: slapd.ldapsUrl, ca_certificate: slapd.caPem,
          bind_dn: slapd.bindDn, bind_password: slapd.bindPassword, user_base: slapd.peopleDn,
          user_filter: '(&(objectClass=inetOrgPerson)(|(uid={{username}})(mail={{username}})))',
          email_domains: ['corp.test'],
          group_mappings: [{ group: 'engineers', roles: ['engineer'] }, { group: `cn=operators,${slapd.groupsDn}`, roles: ['operator'] }],
        },
        {
          alias: 'ad', type: 'ldap', display_name: 'Acme AD', jit: 'create', tenants: ['acme'], url: dir.ldapsUrl, ca_certificate: dir.caCertificatePem,
          bind_dn: dir.bindDn, bind_password: dir.bindPassword, user_base: dir.usersDn, user_filter: dir.userFilter,
          group_mappings: [{ group: 'staff', roles: ['staff'] }],
        },
      ],
    },
  });
}, 60_000);

afterAll(async () => {
  await t?.close();
  await mock?.close();
  await slapd?.close();
});

const users = () => createUserRepository(t.app.store.db);
const byUsername = (tenant: string, u: string) => users().findByUsername(tenant, u);
const alertOf = (html: string) => /<p class="alert" role="alert">([^<]*)<\/p>/.exec(html)?.[1];
const INVALID = 'The username or password is incorrect.';

async function attempt(username: string, password: string, clientId = 'spa', agent = new UserAgent()) {
  const url = oidc.buildAuthorizationUrl(await discover(t.issuer, { clientId }), {
    redirect_uri: REDIRECT, scope: 'openid', code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
    code_challenge_method: 'S256', state: 'st',
  });
  const { res } = await agent.follow(await agent.get(url), url.href);
  const action = new URL(formAction(await res.text(), '/login'), t.issuer);
  const posted = await agent.post(action, { username, password });
  return { status: posted.status, html: await posted.text(), location: posted.headers.get('location') };
}
const normalized = (html: string, username: string) => html
  .replace(/\/interaction\/[A-Za-z0-9_-]+/g, '/interaction/UID').replace(/interaction&#61;[A-Za-z0-9_-]+/g, 'interaction&#61;UID')
  .replaceAll(`value="${username}"`, 'value="NAME"');

describe('configuration', () => {
  test('plain ldap:// is refused unless allowed or upgraded with StartTLS', () => {
    const base = { alias: 'x', type: 'ldap', display_name: 'X', bind_dn: 'cn=a,dc=x', bind_password: 'p', user_base: 'dc=x', user_filter: '(uid={{username}})' };
    const ok = (v: Record<string, unknown>) => parseProviderConfig({ ...base, ...v }).ok;
    expect(ok({ url: 'ldap://dc.example.com' })).toBe(false);
    expect(ok({ url: 'ldap://dc.example.com', start_tls: true })).toBe(true);
    expect(ok({ url: 'ldap://127.0.0.1:389', allow_plain_ldap: true })).toBe(true);
    expect(ok({ url: 'ldaps://dc.example.com', start_tls: true })).toBe(false);
    expect(ok({ url: 'ldaps://dc.example.com', user_filter: '(uid=bob)' })).toBe(false);
    expect(ok({ url: 'ldaps://dc.example.com', bind_password: undefined })).toBe(false);
  });

  test('the service password is stored encrypted with the KEK and never returned by the admin API', async () => {
    const rows = await t.app.store.db.selectFrom('identity_providers').selectAll().where('type', '=', 'ldap').execute();
    expect(rows.map((r) => r.alias).sort()).toEqual(['ad', 'corp']);
    for (const r of rows) {
      const password = r.alias === 'corp' ? slapd.bindPassword : mock.ldap!.bindPassword;
      expect(r.secrets).toBeTruthy();
      expect(r.secrets).not.toContain(password);
      expect(r.config).not.toContain(password);
    }
    expect((await t.app.platform.identityProviders.get('corp'))!.secrets.bind_password).toBe(slapd.bindPassword);
  });

  test('StartTLS on ldap:// with the pinned CA, and a CA that did not sign the certificate is refused', async () => {
    const parsed = parseProviderConfig({
      alias: 'tls', type: 'ldap', display_name: 'TLS', url: slapd.url, start_tls: true, ca_certificate: slapd.caPem, bind_dn: slapd.bindDn,
      bind_password: slapd.bindPassword, user_base: slapd.peopleDn, user_filter: '(uid={{username}})',
    });
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
    const { settings: rest, password: pw } = ldapProviderOf(parsed.value);
    const c = new LdapConnector(rest, pw);
    expect((await c.findUser('ben'))?.email).toBe('ben@corp.test');
    expect(await c.bind(`uid=ben,${slapd.peopleDn}`, 'ben-directory-pw')).toEqual({ ok: true });
    await c.close();
    const wrongCa = new LdapConnector({ ...rest, ca_certificate: mock.ldap!.caCertificatePem }, pw);
    await expect(wrongCa.findUser('ben')).rejects.toThrow(/unavailable/);
    await wrongCa.close();
  });
});

describe('sign-in with the directory password (slapd)', () => {
  test('a person signs in, gets an account linked by entryUUID and roles from groups', async () => {
    const { tokens } = await codeFlow(await discover(t.issuer, { clientId: 'spa' }), new UserAgent(), t.issuer, { username: 'ann@corp.test', password: 'ann-directory-pw' });
    const ann = (await byUsername('default', 'ann'))!;
    expect(tokens.claims()?.sub).toBe(ann.id);
    expect(ann).toMatchObject({ email: 'ann@corp.test', emailVerified: true, givenName: 'Ann', familyName: 'Archer', passwordHash: null, status: 'active' });
    expect([...ann.roles].sort()).toEqual(['engineer', 'operator']);
    const links = await createExternalLinkRepository(t.app.store.db).listForUser(ann.id);
    expect(links).toHaveLength(1);
    expect(links[0]).toMatchObject({ provider: 'corp' });
    expect(links[0]!.subject).toMatch(/^[0-9a-f-]{36}$/);
    const events = await createAuditRepository(t.app.store.db).query({ subjectId: ann.id, action: 'login.succeeded' });
    expect(events.at(0)?.details).toMatchObject({ provider: 'corp', via: 'ldap' });
    // The next time, by username: the link routes it (no second account).
    await codeFlow(await discover(t.issuer, { clientId: 'spa' }), new UserAgent(), t.issuer, { username: 'ann', password: 'ann-directory-pw' });
    expect((await createExternalLinkRepository(t.app.store.db).listForUser(ann.id))[0]!.lastUsedAt).not.toBeNull();
  });

  test('a wrong password, an unknown person and a local account\'s address get the one generic answer', async () => {
    const wrong = await attempt('ben@corp.test', 'not the password');
    const unknown = await attempt('nobody@corp.test', 'not the password');
    const local = await attempt('lou@corp.test', 'lou-directory-pw');
    for (const a of [wrong, unknown, local]) {
      expect(a.status).toBe(401);
      expect(alertOf(a.html)).toBe(INVALID);
    }
    expect(normalized(wrong.html, 'ben@corp.test')).toBe(normalized(unknown.html, 'nobody@corp.test'));
    // The local account with the directory person's address stays its owner's: no link, no takeover.
    const lou = (await byUsername('default', 'lou-local'))!;
    expect(await createExternalLinkRepository(t.app.store.db).listForUser(lou.id)).toEqual([]);
    expect(await byUsername('default', 'lou')).toBeUndefined();
    // …and its owner still signs in with the local password.
    expect((await attempt('lou@corp.test', LOCAL_PASSWORD)).status).toBe(303);
  });

  test('wrong directory passwords count toward the lockout; the locked account is refused with the right one', async () => {
    // First by address (the provider's domain routes it), then by username (the link routes it).
    await codeFlow(await discover(t.issuer, { clientId: 'spa' }), new UserAgent(), t.issuer, { username: 'cat@corp.test', password: 'cat-directory-pw' });
    for (let i = 0; i < MAX_FAILURES; i++) expect((await attempt('cat', `wrong ${i}`)).status).toBe(401);
    const cat = (await byUsername('default', 'cat'))!;
    // The code flow above made 127.0.0.1 a known source of cat: the lock falls on it (docs/security.md#lockout-and-throttling).
    const [lock] = await createAuditRepository(t.app.store.db).query({ subjectId: cat.id, action: 'user.locked' });
    expect(lock!.details).toMatchObject({ reason: 'failed_logins', scope: 'known_address' });
    const right = await attempt('cat', 'cat-directory-pw');
    expect(right.status).toBe(401);
    expect(alertOf(right.html)).toBe(INVALID);
    const failed = await createAuditRepository(t.app.store.db).query({ subjectId: cat.id, action: 'login.failed' });
    expect(failed.map((e) => e.details.reason)).toContain('locked');
    expect((await createAuditRepository(t.app.store.db).query({ subjectId: cat.id, action: 'user.locked' })).length).toBe(1);
  });

  test('local users sign in as before', async () => {
    expect((await attempt('localuser', LOCAL_PASSWORD)).status).toBe(303);
  });
});

describe('Active Directory answers (mock directory)', () => {
  test('password expired and account disabled become clear messages; a wrong password stays generic', async () => {
    const dir = mock.ldap!;
    dir.setScenario('bob', 'password_expired');
    const expired = await attempt('bob', 'password', 'acme-spa');
    expect(expired.status).toBe(403);
    expect(alertOf(expired.html)).toContain('Your password has expired');
    dir.setScenario('bob', 'account_disabled');
    const disabled = await attempt('bob', 'password', 'acme-spa');
    expect(disabled.status).toBe(403);
    expect(alertOf(disabled.html)).toContain('disabled in your organization');
    // Those answers need the right password: a wrong one is the generic answer.
    const wrong = await attempt('bob', 'wrong password', 'acme-spa');
    expect(wrong.status).toBe(401);
    expect(alertOf(wrong.html)).toBe(INVALID);
    dir.setScenario('bob', 'ok');
    expect((await attempt('bob', 'password', 'acme-spa')).status).toBe(303);
    const bob = (await byUsername('acme', 'bob'))!;
    expect(bob.roles).toEqual(['staff']);
  });
});

describe('sync', () => {
  test('creates, updates roles after ldapmodify, disables after ldapdelete and ends the sessions', async () => {
    const dirs = directoriesOf(t.app.platform)!;
    const first = (await dirs.sync.run('corp'))!;
    // ann, cat (signed in before) and ben exist; dan is new; lou is skipped (a local account's address).
    expect(first).toMatchObject({ created: 2, disabled: 0, skipped: 1 });
    expect(await byUsername('default', 'dan')).toBeDefined();
    const again = (await dirs.sync.run('corp'))!;
    expect(again).toMatchObject({ created: 0, updated: 0, disabled: 0, unchanged: 4, skipped: 1 });

    // A role given by hand stays when the directory's roles change.
    const annBefore = (await byUsername('default', 'ann'))!;
    await users().setRoles(annBefore.id, 'default', [...annBefore.roles, 'editor']);
    await slapd.ldapmodify(`dn: cn=operators,${slapd.groupsDn}\nchangetype: delete\n`);
    const afterModify = (await dirs.sync.run('corp'))!;
    expect(afterModify.updated).toBe(1);
    expect([...(await byUsername('default', 'ann'))!.roles].sort()).toEqual(['editor', 'engineer']);

    // Ben signs in (a session and a refresh token), then leaves the directory.
    const { tokens } = await codeFlow(await discover(t.issuer, { clientId: 'spa' }), new UserAgent(), t.issuer, { username: 'ben', password: 'ben-directory-pw' });
    expect(tokens.refresh_token).toBeDefined();
    const ben = (await byUsername('default', 'ben'))!;
    expect((await t.app.platform.payloads.listByAccount('Session', ben.id)).length).toBeGreaterThan(0);
    await slapd.ldapdelete(`uid=ben,${slapd.peopleDn}`);
    const afterDelete = (await dirs.sync.run('corp'))!;
    expect(afterDelete).toMatchObject({ disabled: 1 });
    expect((await byUsername('default', 'ben'))!.status).toBe('disabled');
    expect(await t.app.platform.payloads.listByAccount('Session', ben.id)).toEqual([]);
    expect(await t.app.platform.payloads.listByAccount('RefreshToken', ben.id)).toEqual([]);
    const disabledEvents = await createAuditRepository(t.app.store.db).query({ subjectId: ben.id, action: 'user.disabled' });
    expect(disabledEvents[0]?.details).toMatchObject({ via: 'directory_sync', provider: 'corp' });
    expect((await dirs.sync.run('corp'))!.disabled).toBe(0);
  });

  test('an unknown provider is refused', async () => {
    await expect(directoriesOf(t.app.platform)!.sync.run('nope')).rejects.toBeInstanceOf(UnknownProviderError);
  });

  test('one run at a time: a second run while the lease is held is refused', async () => {
    const dirs = directoriesOf(t.app.platform)!;
    const results = await Promise.allSettled([dirs.sync.run('corp'), dirs.sync.run('corp')]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(refused.reason).toBeInstanceOf(DirectoryBusyError);
  });
});

describe('directory unavailable', () => {
  test('its people get a 503 page, a metric and a log line; local users still sign in; no cached credential', async () => {
    await slapd.stop();
    try {
      const down = await attempt('ann', 'ann-directory-pw');
      expect(down.status).toBe(503);
      expect(alertOf(down.html)).toContain('directory is unavailable');
      expect(t.logs.some((l) => l.includes('"event":"directory.unavailable"') && l.includes('"provider":"corp"'))).toBe(true);
      const metrics = await (await fetch(`${t.issuer}/metrics`)).text();
      expect(metrics).toMatch(/tessera_directory_unavailable_total\{provider="corp"\} [1-9]/);
      expect((await attempt('localuser', LOCAL_PASSWORD)).status).toBe(303);
      // The sync reads nothing and disables nobody.
      await expect(directoriesOf(t.app.platform)!.sync.run('corp')).rejects.toThrow(/unavailable/);
      expect((await byUsername('default', 'ann'))!.status).toBe('active');
    } finally {
      await slapd.start();
    }
    expect((await attempt('ann', 'ann-directory-pw')).status).toBe(303);
  });
});
