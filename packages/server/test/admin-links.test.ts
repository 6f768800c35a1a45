/**
 * Identity admin API, external identity links (federation): list and remove,
 * tenant confinement, step-up for removal, audit. Links are made through the
 * repository (the federation sign-in is what makes them in production).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import {
  ACME_ADMIN, OPAL, PLATFORM_ADMIN, adminApi, adminConfig, machineToken, person, personToken, steppedUpToken, withAuthenticator,
} from './helpers/admin.js';
import { createExternalLinkRepository } from '../src/federation/links.js';
import { createUserRepository } from '../src/identity/repository.js';

type Links = { items: Array<{ provider: string; subject: string; email: string | null; created_at: string; last_used_at: string | null }> };

let t: TestApp;
let api: ReturnType<typeof adminApi>;
const tokens = {} as Record<'bot' | 'acmeBot' | 'opal' | 'ada' | 'adminMfa', string>;
let lia: string;
let erin: string;

beforeAll(async () => {
  t = await startTestApp({ config: adminConfig({ users: [person('lia'), person('erin', { tenant: 'acme' })] }) });
  api = adminApi(t.issuer);
  const users = createUserRepository(t.app.store.db);
  lia = (await users.findByUsername('default', 'lia'))!.id;
  erin = (await users.findByUsername('acme', 'erin'))!.id;
  const links = createExternalLinkRepository(t.app.store.db);
  await links.link({ tenantId: 'default', provider: 'google', subject: '10769150350006150715113082367', userId: lia, email: 'lia@gmail.example' }, Date.parse('2026-01-02T03:04:05Z'));
  await links.link({ tenantId: 'default', provider: 'corp-adfs', subject: 'CN=Lia Lee,OU=Staff,DC=corp,DC=example', userId: lia });
  await links.link({ tenantId: 'acme', provider: 'google', subject: '42', userId: erin });
  Object.assign(tokens, {
    bot: await machineToken(t.issuer, 'ops-bot'),
    acmeBot: await machineToken(t.issuer, 'acme-bot'),
    opal: await personToken(t.issuer, OPAL),
    ada: await personToken(t.issuer, ACME_ADMIN, { client: 'acme-console' }),
  });
  tokens.adminMfa = await steppedUpToken(t.issuer, PLATFORM_ADMIN, await withAuthenticator(t.issuer, PLATFORM_ADMIN));
}, 120_000);
afterAll(async () => {
  await t?.close();
});

const linkPath = (user: string, provider: string, subject: string) => `/users/${user}/links/${encodeURIComponent(provider)}/${encodeURIComponent(subject)}`;

describe('external identity links', () => {
  test('list: provider, subject, asserted email, times; by provider', async () => {
    const r = await api<Links>('GET', `/users/${lia}/links`, { token: tokens.opal });
    expect(r.status).toBe(200);
    expect(r.body.items).toEqual([
      { provider: 'corp-adfs', subject: 'CN=Lia Lee,OU=Staff,DC=corp,DC=example', email: null, created_at: expect.any(String), last_used_at: null },
      { provider: 'google', subject: '10769150350006150715113082367', email: 'lia@gmail.example', created_at: '2026-01-02T03:04:05.000Z', last_used_at: null },
    ]);
  });

  test('a tenant administrator sees their tenant\'s links, and another tenant\'s user is not found', async () => {
    expect((await api<Links>('GET', `/users/${erin}/links`, { token: tokens.ada })).body.items).toHaveLength(1);
    expect((await api('GET', `/users/${lia}/links`, { token: tokens.ada })).status).toBe(404);
    expect((await api('DELETE', linkPath(lia, 'google', '10769150350006150715113082367'), { token: tokens.acmeBot })).status).toBe(404);
  });

  test('removal needs a recent MFA sign-in (RFC 9470) and changes nothing without it', async () => {
    const r = await api('DELETE', linkPath(lia, 'corp-adfs', 'CN=Lia Lee,OU=Staff,DC=corp,DC=example'), { token: tokens.opal });
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toMatch(/error="insufficient_user_authentication".*acr_values="urn:tessera:acr:mfa"/);
    expect((await api<Links>('GET', `/users/${lia}/links`, { token: tokens.bot })).body.items).toHaveLength(2);
  });

  test('removal with step-up: 204, gone, audited with the actor; again: 404', async () => {
    const path = linkPath(lia, 'corp-adfs', 'CN=Lia Lee,OU=Staff,DC=corp,DC=example');
    expect((await api('DELETE', path, { token: tokens.adminMfa })).status).toBe(204);
    expect((await api<Links>('GET', `/users/${lia}/links`, { token: tokens.bot })).body.items.map((l) => l.provider)).toEqual(['google']);
    expect((await api('DELETE', path, { token: tokens.adminMfa })).status).toBe(404);
    const audit = await api<{ items: Array<{ action: string; actor: string | null; details: Record<string, unknown> }> }>('GET', `/audit?action=user.unlinked&subject=${lia}`, { token: tokens.bot });
    expect(audit.body.items).toHaveLength(1);
    expect(audit.body.items[0]!.details).toMatchObject({ provider: 'corp-adfs', via: 'admin_api', actor_type: 'user' });
    expect(audit.body.items[0]!.actor).toBeTruthy();
  });

  test('a machine with identity.admin removes without step-up (no person to step up)', async () => {
    expect((await api('DELETE', linkPath(erin, 'google', '42'), { token: tokens.acmeBot })).status).toBe(204);
  });

  test('bad input: unknown user or link 404, NUL in a segment never reaches storage', async () => {
    expect((await api('GET', '/users/no-such-user/links', { token: tokens.bot })).status).toBe(404);
    expect((await api('DELETE', `/users/${lia}/links/nobody/x`, { token: tokens.adminMfa })).status).toBe(404);
    const nul = await api('DELETE', `/users/${lia}/links/google/a%00b`, { token: tokens.adminMfa });
    expect([400, 404]).toContain(nul.status);
    expect((await api<Links>('GET', `/users/${lia}/links`, { token: tokens.bot })).body.items).toHaveLength(1);
  });
});
