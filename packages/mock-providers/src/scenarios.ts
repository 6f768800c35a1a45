import { randomUUID } from 'node:crypto';
import { nameParts, subjectFor, uuidFor, type MockName, type Persona } from './personas.js';

/** What a sign-in at a mock does on the wire (docs/mock-providers.md has the table). */
export const SCENARIOS = [
  'ok', 'deny', 'missing_email', 'unverified_email', 'duplicate', 'stale_group', 'link_required', 'slow',
  'bad_signature', 'wrong_issuer',
] as const;
export type Scenario = (typeof SCENARIOS)[number];

export const SCENARIO_HELP: Record<Scenario, string> = {
  ok: 'signs in with the persona as it is',
  deny: 'the user refuses: error=access_denied back to the client',
  missing_email: 'no email in the token or profile',
  unverified_email: 'email_verified is false',
  duplicate: 'a new upstream account (fresh subject) with the email of a local account',
  stale_group: 'groups have shrunk since the last sign-in',
  link_required: 'the persona (stable subject) carries the verified email of a local account',
  slow: 'token and profile endpoints answer only after the slow delay',
  bad_signature: 'ID token signed with a key that is not in the JWKS',
  wrong_issuer: 'ID token from another issuer (mix-up)',
};

/** Facebook has no ID token and no email_verified flag: these scenarios mean nothing there. */
const UNSUPPORTED: Partial<Record<MockName, Scenario[]>> = {
  facebook: ['unverified_email', 'bad_signature'],
};

export function isScenario(s: string): s is Scenario {
  return (SCENARIOS as readonly string[]).includes(s);
}

export function scenariosFor(mock: MockName): Scenario[] {
  const skip = UNSUPPORTED[mock] ?? [];
  return SCENARIOS.filter((s) => !skip.includes(s));
}

/** The Entra tenant of personal Microsoft accounts: what Entra sends when no tenant applies. */
const ENTRA_CONSUMER_TENANT = '9188040d-6c67-4c5b-b112-36a304b66dad';

/** One completed sign-in at a mock: who, how, and the claims it emits. */
export interface SignIn {
  mock: MockName;
  persona: string;
  scenario: Scenario;
  sub: string;
  claims: Record<string, unknown>;
  at: number;
}

/**
 * The claims a mock emits for a persona under a scenario (ID token, userinfo and /me all derive
 * from these). `localEmail` is the email of an existing local Tessera account.
 */
export function buildSignIn(mock: MockName, persona: Persona, scenario: Scenario, localEmail: string): SignIn {
  // `duplicate` is a different upstream account every time; everything else keeps the persona's subject.
  const sub = scenario === 'duplicate' ? subjectFor(mock, persona, randomUUID()) : subjectFor(mock, persona);
  const { given, family } = nameParts(persona);
  let email: string | undefined = persona.email;
  let verified = persona.email_verified;
  if (scenario === 'duplicate' || scenario === 'link_required') {
    email = localEmail;
    verified = true;
  }
  if (scenario === 'unverified_email') verified = false;
  if (scenario === 'missing_email') email = undefined;
  let groups = persona.groups;
  if (scenario === 'stale_group') {
    const drop = persona.stale_groups ?? persona.groups.slice(-1);
    groups = persona.groups.filter((g) => !drop.includes(g));
  }
  const amr = persona.mfa ? ['pwd', 'mfa'] : ['pwd'];
  const common: Record<string, unknown> = {
    sub, name: persona.name, given_name: given, ...(family ? { family_name: family } : {}),
    ...(email ? { email, email_verified: verified } : {}),
    ...(persona.locale ? { locale: persona.locale } : {}),
  };
  let claims: Record<string, unknown>;
  switch (mock) {
    case 'google':
      claims = { ...common, ...(persona.hd ? { hd: persona.hd } : {}), picture: `https://example.com/avatars/${persona.id}.png` };
      break;
    case 'facebook':
      // Graph API field names; Facebook returns only confirmed addresses and has no verified flag.
      claims = {
        id: sub, name: persona.name, first_name: given, ...(family ? { last_name: family } : {}),
        ...(email ? { email } : {}),
      };
      break;
    case 'entra':
      claims = {
        ...common, tid: persona.tenant ?? ENTRA_CONSUMER_TENANT, oid: uuidFor(`entra:oid:${persona.id}`),
        preferred_username: email ?? `${persona.id}@${persona.tenant ?? 'consumers'}.onmicrosoft.com`, groups, amr,
      };
      break;
    case 'keycloak':
      claims = { ...common, preferred_username: persona.id, groups, amr };
      break;
  }
  return { mock, persona: persona.id, scenario, sub, claims, at: Date.now() };
}
