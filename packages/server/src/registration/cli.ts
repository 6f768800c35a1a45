import type { Platform } from '../platform.js';
import { RegistrationInvalid, RegistrationRefused } from './errors.js';
import { registrationService } from './routes.js';

/**
 * `tessera users invite`: mails an invitation link (single use, bound to the
 * address) to register in a tenant. Prints where it went, never the link:
 * the link is a credential for whoever holds it. Returns the exit code.
 */
export async function inviteCommand(p: Platform, input: { email: string; tenantId: string; locale?: string; ttlSeconds: number }): Promise<number> {
  try {
    await registrationService(p).invite(input);
  } catch (err) {
    if (err instanceof RegistrationRefused) {
      const why = err.code === 'unknown_tenant' ? `tenant ${input.tenantId} does not exist` : `tenant ${input.tenantId} does not accept registrations (policy: closed)`;
      console.error(`tessera users invite: ${why}`);
      return 2;
    }
    if (err instanceof RegistrationInvalid) {
      console.error(`tessera users invite: ${err.fields.email === 'taken' ? `${input.email} already has an account in tenant ${input.tenantId}` : `${input.email} is not a valid email address`}`);
      return 2;
    }
    throw err;
  }
  const where = p.mailer.kind === 'outbox' ? ' (development outbox: SMTP_URL is not set)' : '';
  console.log(`invited ${input.email} to tenant ${input.tenantId}; the link is valid for ${Math.round(input.ttlSeconds / 86_400)} days${where}`);
  return 0;
}
