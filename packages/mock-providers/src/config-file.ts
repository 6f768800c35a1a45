import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { describeZodError, PersonaError, personaSchema, resolvePersonas, type Persona } from './personas.js';
import type { MockClient } from './server.js';
import type { SamlServiceProvider } from './saml.js';

const clientSchema = z.object({
  client_id: z.string().min(1).max(200),
  client_secret: z.string().min(1).max(500),
  redirect_uris: z.array(z.url()).min(1),
  post_logout_redirect_uris: z.array(z.url()).optional(),
  token_endpoint_auth_method: z.enum(['client_secret_basic', 'client_secret_post']).optional(),
  backchannel_logout_uri: z.url().optional(),
}).strict();

const samlSpSchema = z.object({
  entity_id: z.string().min(1).max(1000),
  acs_urls: z.array(z.url()).min(1),
  attribute_profile: z.enum(['basic', 'microsoft']).optional(),
  /** The SP's encryption certificate (PEM, from its metadata): assertions are encrypted to it. */
  encryption_certificate: z.string().includes('-----BEGIN CERTIFICATE-----', { message: 'must be a PEM certificate' }).max(16_384).optional(),
}).strict();

/** The mock providers' file (`--personas FILE`): personas, and optionally clients. */
export const mockFileSchema = z.object({
  local_email: z.email().optional(),
  personas: z.array(personaSchema).min(1),
  clients: z.array(clientSchema).min(1).optional(),
  saml_service_providers: z.array(samlSpSchema).min(1).optional(),
}).strict();

/** Reads a YAML (or JSON) mock file. @throws PersonaError naming the file and the field */
export function loadMockFile(path: string): {
  personas: Persona[]; localEmail?: string; clients?: MockClient[]; samlServiceProviders?: SamlServiceProvider[];
} {
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new PersonaError(`${path}: ${(err as Error).message}`);
  }
  const result = mockFileSchema.safeParse(raw);
  if (!result.success) throw new PersonaError(`${path}: ${describeZodError(result.error)}`);
  return {
    personas: resolvePersonas(result.data.personas), localEmail: result.data.local_email, clients: result.data.clients,
    samlServiceProviders: result.data.saml_service_providers?.map((sp) => ({
      entityId: sp.entity_id, acsUrls: sp.acs_urls, ...(sp.attribute_profile ? { attributeProfile: sp.attribute_profile } : {}),
      ...(sp.encryption_certificate ? { encryptionCertificate: sp.encryption_certificate } : {}),
    })),
  };
}
