/**
 * The mock providers' scenario table as Tessera tests (docs/federation.md#scenario-table):
 * `tessera mock-providers` (a real oidc-provider per mock, real discovery, JWKS
 * and signatures; Facebook OAuth 2.0 only with /me and appsecret_proof) as the
 * upstreams of a real Tessera. One test per provider and scenario; the
 * persona and scenario travel as `login_hint=persona:scenario`, which Tessera
 * passes on to the upstream. Each test asserts Tessera's reaction.
 * Runs on SQLite and PostgreSQL.
 */
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startMockProviders, scenariosFor } from '../../mock-providers/src/index.js';
import type { MockName, MockProviders, PersonaInput, Scenario } from '../../mock-providers/src/index.js';
import { freePort, startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { formAction } from './helpers/agent.js';
import { Browser } from './helpers/upstream.js';
import { discover } from './helpers/flows.js';
import { REDIRECT, baseConfig } from './fixtures.js';
import { createExternalLinkRepository } from '../src/federation/links.js';
import { ACR_MFA } from '../src/oidc/acr.js';

const PROVIDERS = ['google', 'facebook', 'entra'] as const satisfies readonly MockName[];
type Alias = (typeof PROVIDERS)[number];
const LOCAL = { username: 'lou', password: 'a long enough local password', email: 'lou.local@example.com' };
const TIMEOUT_SECONDS = 2;
const SLOW_MS = 6_000;

/** Scenarios that mean something for a mock (Google and Facebook release no groups: stale_group is Entra's). */
const applies = (alias: Alias, s: Scenario) => scenariosFor(alias).includes(s) && (s !== 'stale_group' || alias === 'entra');

/** One persona per provider and scenario, so no test sees another's account. */
function personas(): PersonaInput[] {
  const out: PersonaInput[] = [];
  for (const alias of PROVIDERS) {
    for (const s of scenariosFor(alias)) {
      const id = `${alias}-${s.replace(/_/g, '-')}`;
      // unverified_email: the local account's address, unverified upstream (no link, no takeover).
      const email = s === 'unverified_email' ? LOCAL.email : `${id}@example.com`;
      out.push({
        id, email, name: `${alias} ${s}`, groups: s === 'stale_group' ? ['sales', 'managers'] : [],
        stale_groups: s === 'stale_group' ? ['managers'] : undefined, mfa: s === 'ok' && alias === 'entra',
      });
    }
  }
  return out;
}
const personaOf = (alias: Alias, s: Scenario) => `${alias}-${s.replace(/_/g, '-')}`;
const emailOf = (alias: Alias, s: Scenario) => `${personaOf(alias, s)}@example.com`;

let t: TestApp;
let mock: MockProviders;
let spa: oidc.Configuration;

beforeAll(async () => {
  const port = await freePort();
  // localhost: the mocks' cookies stay apart from Tessera's (127.0.0.1) in the test browser.
  mock = await startMockProviders({
    port, host: '127.0.0.1', publicUrl: `http://localhost:${port}`, personas: personas(), localEmail: LOCAL.email,
    slowMs: SLOW_MS, ldap: false, saml: false,
  });
  const common = { tenants: ['default'], trust_email_verified: true, jit: 'create', timeout_seconds: TIMEOUT_SECONDS };
  t = await startTestApp({
    config: {
      ...baseConfig,
      roles: [...baseConfig.roles, { name: 'sales', tenant: 'default' }, { name: 'manager', tenant: 'default' }],
      users: [...baseConfig.users, { ...LOCAL, email_verified: true }],
      identity_providers: [
        { alias: 'google', type: 'mock', mock: 'google', url: mock.url, display_name: 'Google', icon: 'google', claim_preset: 'google', ...common },
        { alias: 'facebook', type: 'mock', mock: 'facebook', url: mock.url, display_name: 'Facebook', icon: 'facebook', claim_preset: 'facebook', ...common },
        {
          alias: 'entra', type: 'mock', mock: 'entra', url: mock.url, display_name: 'Entra ID', icon: 'microsoft', claim_preset: 'entra', ...common,
          trust_upstream_mfa: { amr: ['mfa'] },
          group_mappings: [{ group: 'sales', roles: ['sales'] }, { group: 'managers', roles: ['manager'] }],
        },
      ],
    },
    env: { TESSERA_OUTBOUND_PRIVATE_HOSTS: 'localhost' },
  });
  for (const alias of PROVIDERS) mock.addRedirectUri(alias, `${t.issuer}/federation/${alias}/callback`);
  spa = await discover(t.issuer, { clientId: 'spa' });
}, 60_000);
afterAll(async () => {
  await t?.close();
  await mock?.close();
});

/** An authorization request to Tessera that goes straight to `alias` (idp_hint), the persona and scenario as login_hint. */
async function signIn(alias: Alias, scenario: Scenario, persona = personaOf(alias, scenario), browser = new Browser()) {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = oidc.buildAuthorizationUrl(spa, {
    redirect_uri: REDIRECT, scope: 'openid profile email', state, nonce, idp_hint: alias, login_hint: `${persona}:${scenario}`,
    claims: JSON.stringify({ id_token: { acr: null, amr: null, email: null } }),
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  });
  const began = Date.now();
  const out = await browser.run(await browser.get(url), url.href, REDIRECT);
  const tokens = (callback = out.callback) => oidc.authorizationCodeGrant(spa, callback!, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
  return { ...out, tokens, browser, ms: Date.now() - began };
}

async function failures(alias: Alias, reason: string) {
  const rows = await t.app.store.db.selectFrom('audit_log').selectAll().where('action', '=', 'federation.login.failed').execute();
  return rows.map((r) => JSON.parse(r.details) as { provider: string; reason: string }).filter((d) => d.provider === alias && d.reason === reason);
}

const links = () => createExternalLinkRepository(t.app.store.db);
const subjectOf = (alias: Alias, s: Scenario) => mock.emitted.filter((e) => e.mock === alias && e.persona === personaOf(alias, s)).at(-1)!;
/** The subject Tessera links by (the claim mapping's `subject`: Entra's oid, Facebook's id). */
const linkSubject = (alias: Alias, s: Scenario) => {
  const e = subjectOf(alias, s);
  return String(alias === 'entra' ? e.claims.oid : e.sub);
};

async function expectRefused(out: Awaited<ReturnType<typeof signIn>>, status: number, code: string) {
  expect(out.callback).toBeUndefined();
  expect(out.page!.status).toBe(status);
  const html = await out.page!.text();
  expect(html).toContain(code);
  return html;
}

const SCENARIO_TESTS: Record<Scenario, (alias: Alias) => Promise<void>> = {
  async ok(alias) {
    const out = await signIn(alias, 'ok');
    const claims = (await out.tokens()).claims()!;
    const user = await t.app.platform.users.findByEmail('default', emailOf(alias, 'ok'));
    expect(user).toMatchObject({ status: 'active', emailVerified: true });
    expect(claims.sub).toBe(user!.id);
    // Entra's persona signed in with MFA, and the provider trusts its amr.
    expect(claims.amr).toEqual(alias === 'entra' ? ['fed', 'mfa'] : ['fed']);
    if (alias === 'entra') expect(claims.acr).toBe(ACR_MFA);
    expect(await links().find('default', alias, linkSubject(alias, 'ok'))).toMatchObject({ userId: user!.id });
    // Facebook: the profile came from /me, which the mock answers only with a correct appsecret_proof.
    if (alias === 'facebook') expect(user!.givenName).toBe('facebook');
  },
  async deny(alias) {
    const out = await signIn(alias, 'deny');
    expect(out.callback!.searchParams.get('error')).toBe('access_denied');
    expect(await failures(alias, 'access_denied')).not.toHaveLength(0);
    expect(await t.app.platform.users.findByEmail('default', emailOf(alias, 'deny'))).toBeUndefined();
  },
  async missing_email(alias) {
    // Profile completion: the address is asked for, confirmed with a mailed code, and the sign-in goes on.
    const out = await signIn(alias, 'missing_email');
    expect(out.page!.status).toBe(200);
    const html = await out.page!.text();
    expect(html).toContain('Your email address');
    expect(await links().find('default', alias, linkSubject(alias, 'missing_email'))).toBeUndefined();
    const email = emailOf(alias, 'missing_email');
    const ask = new URL(formAction(html, '/federation/profile'), t.issuer);
    const sent = await out.browser.post(ask, { email });
    expect(sent.status).toBe(200);
    const codeForm = new URL(formAction(await sent.text(), '/federation/profile/confirm'), t.issuer);
    const [mail] = await t.app.platform.outbox.list(1, email);
    const code = /\b(\d{6})\b/.exec(mail!.body)![1]!;
    if (alias === 'google') {
      const wrong = await out.browser.post(codeForm, { code: code === '000000' ? '111111' : '000000' });
      expect(wrong.status).toBe(400);
      expect(await t.app.platform.users.findByEmail('default', email)).toBeUndefined();
    }
    const done = await out.browser.run(await out.browser.post(codeForm, { code }), codeForm.href, REDIRECT);
    const claims = (await out.tokens(done.callback)).claims()!;
    const user = await t.app.platform.users.findByEmail('default', email);
    expect(user).toMatchObject({ id: claims.sub, emailVerified: true, status: 'active' });
    expect(await links().find('default', alias, linkSubject(alias, 'missing_email'))).toMatchObject({ userId: user!.id });
  },
  async unverified_email(alias) {
    // The upstream says the local account's address is not verified: no link, no takeover, no user.
    const out = await signIn(alias, 'unverified_email');
    await expectRefused(out, 403, 'email_not_verified');
    expect(await links().find('default', alias, linkSubject(alias, 'unverified_email'))).toBeUndefined();
    expect(await failures(alias, 'email_not_verified')).not.toHaveLength(0);
  },
  async duplicate(alias) {
    // A new upstream account with the local account's verified email: never linked silently.
    const out = await signIn(alias, 'duplicate');
    expect(out.page!.status).toBe(200);
    const html = await out.page!.text();
    expect(html).toContain('An account with this email address already exists');
    expect(html).toContain(`value="${LOCAL.username}"`);
    expect(await links().find('default', alias, linkSubject(alias, 'duplicate'))).toBeUndefined();
    expect(await t.app.platform.users.findByEmail('default', emailOf(alias, 'duplicate'))).toBeUndefined();
  },
  async link_required(alias) {
    const out = await signIn(alias, 'link_required');
    expect(out.page!.status).toBe(200);
    const html = await out.page!.text();
    expect(html).toContain('An account with this email address already exists');
    const subject = linkSubject(alias, 'link_required');
    expect(await links().find('default', alias, subject)).toBeUndefined();
    // The person proves the local account in the same sign-in: the link is made.
    const action = new URL(formAction(html, '/login'), t.issuer);
    const done = await out.browser.run(await out.browser.post(action, { username: LOCAL.username, password: LOCAL.password }), action.href, REDIRECT);
    expect(done.callback!.searchParams.get('code')).toBeTruthy();
    const owner = (await t.app.platform.users.findByUsername('default', LOCAL.username))!;
    expect(await links().find('default', alias, subject)).toMatchObject({ userId: owner.id });
    // The next sign-in uses the link: straight in as the local account.
    const again = await signIn(alias, 'link_required');
    expect((await again.tokens()).claims()!.sub).toBe(owner.id);
  },
  async stale_group(alias) {
    const first = await signIn(alias, 'ok', personaOf(alias, 'stale_group'));
    const user = (await t.app.platform.users.findById(String((await first.tokens()).claims()!.sub)))!;
    expect(await t.app.platform.users.rolesIn(user.id, 'default')).toEqual(['manager', 'sales']);
    const second = await signIn(alias, 'stale_group');
    expect((await second.tokens()).claims()!.sub).toBe(user.id);
    expect(await t.app.platform.users.rolesIn(user.id, 'default')).toEqual(['sales']);
  },
  async slow(alias) {
    const out = await signIn(alias, 'slow');
    await expectRefused(out, 504, 'upstream_timeout');
    // A clear error page within the configured timeout (plus the round trip's quick hops), long before the upstream answers.
    expect(out.ms).toBeGreaterThanOrEqual(TIMEOUT_SECONDS * 1000 - 100);
    expect(out.ms).toBeLessThan(TIMEOUT_SECONDS * 1000 + 2_000);
    expect(await failures(alias, 'upstream_timeout')).not.toHaveLength(0);
    expect(await t.app.platform.users.findByEmail('default', emailOf(alias, 'slow'))).toBeUndefined();
  },
  async bad_signature(alias) {
    const out = await signIn(alias, 'bad_signature');
    await expectRefused(out, 502, 'upstream_invalid_token');
    expect(await failures(alias, 'upstream_invalid_token')).not.toHaveLength(0);
    expect(await t.app.platform.users.findByEmail('default', emailOf(alias, 'bad_signature'))).toBeUndefined();
  },
  async wrong_issuer(alias) {
    const out = await signIn(alias, 'wrong_issuer');
    // OIDC: the ID token's iss (a checked token claim); Facebook: the RFC 9207 iss of the authorization response.
    const code = alias === 'facebook' ? 'upstream_invalid_response' : 'upstream_invalid_token';
    await expectRefused(out, 502, code);
    expect(await failures(alias, code)).not.toHaveLength(0);
    expect(await t.app.platform.users.findByEmail('default', emailOf(alias, 'wrong_issuer'))).toBeUndefined();
  },
};

describe.each(PROVIDERS)('mock %s as the upstream', (alias) => {
  const scenarios = (Object.keys(SCENARIO_TESTS) as Scenario[]).filter((s) => applies(alias, s));
  test.each(scenarios)(`${alias}: %s`, async (s) => {
    await SCENARIO_TESTS[s](alias);
  }, 20_000);
});

test('the table covers every scenario of each mock (or says why not)', () => {
  expect(PROVIDERS.flatMap((a) => scenariosFor(a).filter((s) => !applies(a, s)).map((s) => `${a}:${s}`))).toEqual(['google:stale_group', 'facebook:stale_group']);
});
