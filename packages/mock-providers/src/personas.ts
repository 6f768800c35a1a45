import { createHash } from 'node:crypto';
import { z } from 'zod';

/** The mocks served on one port, each under its own issuer path. */
export const MOCK_NAMES = ['google', 'facebook', 'entra', 'keycloak'] as const;
export type MockName = (typeof MOCK_NAMES)[number];

const ID = /^[a-z0-9][a-z0-9_-]{0,63}$/;

export const personaSchema = z.object({
  id: z.string().regex(ID, 'persona ids are lower-case letters, digits, "_" and "-" (used in login_hint=persona:scenario)'),
  email: z.email().optional(),
  name: z.string().min(1).max(200),
  given_name: z.string().max(100).optional(),
  family_name: z.string().max(100).optional(),
  email_verified: z.boolean().default(true),
  tenant: z.string().min(1).max(100).optional(),
  groups: z.array(z.string().min(1).max(200)).default([]),
  stale_groups: z.array(z.string().min(1).max(200)).optional(),
  mfa: z.boolean().default(false),
  hd: z.string().max(200).optional(),
  locale: z.string().max(20).optional(),
  sub: z.string().min(1).max(255).optional(),
  /** The directory password (mock LDAP binds); the same default for everyone. */
  password: z.string().min(1).max(200).default('password'),
}).strict();

export type PersonaInput = z.input<typeof personaSchema>;
export type Persona = z.output<typeof personaSchema>;

/** Default email of a local Tessera account (the `duplicate` and `link_required` scenarios claim it). */
export const DEFAULT_LOCAL_EMAIL = 'local.user@example.com';

/** The built-in set: one persona per thing a developer wants to see at least once. */
export const DEFAULT_PERSONAS: PersonaInput[] = [
  { id: 'alice', email: 'alice@example.com', name: 'Alice Anders', tenant: 'acme', groups: ['staff', 'admins'], mfa: true, hd: 'example.com' },
  { id: 'bob', email: 'bob@example.com', name: 'Bob Brown', tenant: 'acme', groups: ['staff'] },
  { id: 'carol', email: 'carol@example.org', name: 'Carol Chen', tenant: 'globex', groups: ['sales', 'managers'], stale_groups: ['managers'] },
  { id: 'dave', email: 'dave@example.net', name: 'Dave Dobbs', email_verified: false, groups: [] },
  { id: 'local', email: DEFAULT_LOCAL_EMAIL, name: 'Lou Local', tenant: 'acme', groups: ['staff'] },
];

/** Thrown for an unreadable or invalid persona file; the message names the file and the field. */
export class PersonaError extends Error {}

/** Validates persona objects; ids must be unique. @throws PersonaError */
export function resolvePersonas(input: PersonaInput[] | undefined): Persona[] {
  const result = z.array(personaSchema).min(1).safeParse(input ?? DEFAULT_PERSONAS);
  if (!result.success) throw new PersonaError(`invalid personas: ${describeZodError(result.error)}`);
  const seen = new Set<string>();
  for (const p of result.data) {
    if (seen.has(p.id)) throw new PersonaError(`invalid personas: the id "${p.id}" is used twice`);
    seen.add(p.id);
  }
  return result.data;
}

export function describeZodError(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}

/**
 * A subject that looks like the real provider's and stays the same across restarts (links made in
 * Tessera during development keep working): derived from the mock and persona id, unless the
 * persona names its own.
 */
export function subjectFor(mock: MockName, persona: Persona, salt = ''): string {
  if (persona.sub && !salt) return persona.sub;
  const digest = createHash('sha256').update(`${mock}:${persona.id}:${salt}`).digest();
  switch (mock) {
    case 'google': // 21 decimal digits
      return '1' + digits(digest, 20);
    case 'facebook': // an app-scoped user id: 16 digits
      return '10' + digits(digest, 14);
    case 'entra': // a pairwise subject: 43 base64url characters
      return digest.toString('base64url').slice(0, 43);
    case 'keycloak': // a UUID
      return uuidFrom(digest);
  }
}

/** A UUID-shaped identifier derived from a name (Entra's `tid`/`oid` are GUIDs). */
export function uuidFor(name: string): string {
  return uuidFrom(createHash('sha256').update(name).digest());
}

function uuidFrom(d: Buffer): string {
  const h = d.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function digits(d: Buffer, n: number): string {
  let out = '';
  for (let i = 0; out.length < n; i++) out += String(d[i % d.length]! % 10);
  return out;
}

/** Given and family name: the persona's, else split from `name`. */
export function nameParts(p: Persona): { given: string; family?: string } {
  if (p.given_name) return { given: p.given_name, family: p.family_name };
  const [given, ...rest] = p.name.split(' ');
  return { given: given!, family: p.family_name ?? (rest.length ? rest.join(' ') : undefined) };
}
