import { Client, InvalidCredentialsError } from 'ldapts';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startMockProviders, type MockProviders } from '../src/index.js';
import type { MockDirectory } from '../src/ldap.js';

let mock: MockProviders;
let dir: MockDirectory;
const LOCAL = 'owner.local@example.com';
const clients: Client[] = [];

beforeAll(async () => {
  mock = await startMockProviders({ port: 0, slowMs: 1500, localEmail: LOCAL });
  dir = mock.ldap!;
});
afterEach(async () => {
  for (const c of clients.splice(0)) await c.unbind().catch(() => undefined);
  for (const p of mock.personas) dir.setScenario(p.id, 'ok');
});
afterAll(async () => {
  await mock?.close();
});

function client(timeout?: number): Client {
  const c = new Client({ url: dir.url, ...(timeout ? { timeout, connectTimeout: timeout } : {}) });
  clients.push(c);
  return c;
}

/** What Tessera does: service bind, find the person by what they typed, then bind as them. */
async function find(username: string): Promise<Record<string, unknown> | undefined> {
  const c = client();
  await c.bind(dir.bindDn, dir.bindPassword);
  const { searchEntries } = await c.search(dir.usersDn, { scope: 'sub', filter: dir.userFilter.replaceAll('{{username}}', username), attributes: ['uid', 'mail', 'cn', 'entryUUID', 'memberOf', 'o'] });
  return searchEntries[0];
}

async function bindAs(dn: string, password: string): Promise<void> {
  await client().bind(dn, password);
}

describe('mock LDAP directory (ldapts as the client)', () => {
  it('the service account finds a person by uid or mail, with entryUUID, mail and memberOf', async () => {
    const byUid = await find('alice');
    expect(byUid).toMatchObject({ dn: `uid=alice,${dir.usersDn}`, mail: 'alice@example.com', cn: 'Alice Anders', o: 'acme' });
    expect(byUid!.entryUUID).toMatch(/^[0-9a-f-]{36}$/);
    expect(byUid!.memberOf).toEqual([`cn=staff,${dir.groupsDn}`, `cn=admins,${dir.groupsDn}`]);
    const byMail = await find('ALICE@example.com'); // matching is case-insensitive, as for mail in real directories
    expect(byMail!.entryUUID).toBe(byUid!.entryUUID);
    expect(await find('nobody')).toBeUndefined();
    expect(Object.keys(byUid!)).not.toContain('userPassword');
  });

  it('groups are groupOfNames with member DNs (a group search finds them too)', async () => {
    const c = client();
    await c.bind(dir.bindDn, dir.bindPassword);
    const { searchEntries } = await c.search(dir.groupsDn, { scope: 'one', filter: `(&(objectClass=groupOfNames)(member=uid=carol,${dir.usersDn}))`, attributes: ['cn'] });
    expect(searchEntries.map((e) => e.cn).sort()).toEqual(['managers', 'sales']);
  });

  it('a person binds with their password; a wrong one is invalidCredentials; anonymous searches are refused', async () => {
    await bindAs(`uid=bob,${dir.usersDn}`, 'password');
    await expect(bindAs(`uid=bob,${dir.usersDn}`, 'wrong')).rejects.toBeInstanceOf(InvalidCredentialsError);
    await expect(bindAs(dir.bindDn, 'wrong')).rejects.toBeInstanceOf(InvalidCredentialsError);
    await expect(client().search(dir.usersDn, { filter: '(uid=bob)' })).rejects.toThrow(/successful bind/);
    expect(dir.binds.at(-1)).toMatchObject({ dn: dir.bindDn, ok: false });
  });

  it('deny, account_disabled and password_expired fail the right password with AD diagnostics (52e, 533, 532)', async () => {
    const dn = `uid=bob,${dir.usersDn}`;
    for (const [scenario, data] of [['deny', '52e'], ['account_disabled', '533'], ['password_expired', '532']] as const) {
      dir.setScenario('bob', scenario);
      const err = await bindAs(dn, 'password').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidCredentialsError);
      expect((err as Error).message).toContain(`data ${data}`);
    }
    dir.setScenario('bob', 'ok');
    await bindAs(dn, 'password');
  });

  it('missing_email drops mail; duplicate sets the local account email', async () => {
    dir.setScenario('carol', 'missing_email');
    expect((await find('carol'))!.mail).toEqual([]); // ldapts lists a requested attribute the entry lacks as []
    dir.setScenario('carol', 'duplicate');
    expect((await find('carol'))!.mail).toBe(LOCAL);
  });

  it('stale_group: memberOf and the groups\' member lists both shrink', async () => {
    expect((await find('carol'))!.memberOf).toEqual([`cn=sales,${dir.groupsDn}`, `cn=managers,${dir.groupsDn}`]);
    dir.setScenario('carol', 'stale_group');
    expect((await find('carol'))!.memberOf).toBe(`cn=sales,${dir.groupsDn}`);
    const c = client();
    await c.bind(dir.bindDn, dir.bindPassword);
    const { searchEntries } = await c.search(`cn=managers,${dir.groupsDn}`, { scope: 'base', attributes: ['member'] });
    expect(searchEntries[0]!.member).not.toContain(`uid=carol,${dir.usersDn}`);
  });

  it('slow: a bind as the person outlasts a client timeout shorter than slowMs', async () => {
    dir.setScenario('alice', 'slow');
    await expect(client(400).bind(`uid=alice,${dir.usersDn}`, 'password')).rejects.toThrow(/timeout|timed out/i);
    await bindAs(`uid=bob,${dir.usersDn}`, 'password'); // others are not slowed down
  });

  it('the /ldap page switches a persona\'s scenario (form post)', async () => {
    const page = await fetch(`${mock.url}/ldap`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(await page.text()).toContain(dir.url);
    const res = await fetch(`${mock.url}/ldap`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'persona=dave&scenario=deny' });
    expect(res.status).toBe(303);
    expect(dir.scenarioOf('dave')).toBe('deny');
    const bad = await fetch(`${mock.url}/ldap`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'persona=dave&scenario=explode' });
    expect(bad.status).toBe(400);
  });

  it('LDAPS: a client that trusts the mock CA (from /ldap/ca.pem) binds and searches; one that does not is refused', async () => {
    expect(dir.ldapsUrl).toMatch(/^ldaps:\/\/127\.0\.0\.1:\d+$/);
    const served = await (await fetch(`${mock.url}/ldap/ca.pem`)).text();
    expect(served).toBe(dir.caCertificatePem);
    const trusting = new Client({ url: dir.ldapsUrl!, tlsOptions: { ca: [served] } });
    clients.push(trusting);
    await trusting.bind(dir.bindDn, dir.bindPassword);
    const { searchEntries } = await trusting.search(dir.usersDn, { filter: '(uid=carol)', attributes: ['mail'] });
    expect(searchEntries[0]!.mail).toBe('carol@example.org');
    const untrusting = new Client({ url: dir.ldapsUrl!, connectTimeout: 3000 });
    clients.push(untrusting);
    await expect(untrusting.bind(dir.bindDn, dir.bindPassword)).rejects.toThrow(/certificate/i);
  });
});
