import type { RateLimiter } from '../http/rate-limit.js';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { EventContext } from '../audit/events.js';
import { AppError } from '../http/errors.js';
import { negotiateLocale } from '../i18n/index.js';
import { RegistrationInvalid, RegistrationRefused } from './errors.js';
import type { RegistrationInput, RegistrationService } from './service.js';
import { parseBody, registrationBody } from './schemas.js';
import type { RegistrationBody } from './schemas.js';

/** English descriptions for the JSON API (clients match on `error`, people read these). */
const REFUSALS: Record<string, [status: number, message: string]> = {
  unknown_tenant: [404, 'No such tenant.'],
  registration_closed: [403, 'This tenant does not accept new accounts.'],
  invite_required: [403, 'This tenant accepts new accounts by invitation only; send the invitation token as `invite`.'],
};
const INVITE_PROBLEMS: Record<string, string> = {
  invalid: 'The invitation is not valid.',
  expired: 'The invitation has expired.',
  used: 'The invitation has already been used.',
};

/**
 * POST /api/self-service/registration: the same registration as the hosted
 * page, for applications with their own sign-up form. It creates the account
 * and sends the confirmation mail; it never issues tokens (the user signs in
 * through the authorization server afterwards).
 */
export function registerRegistrationApi(app: FastifyInstance, deps: { service: RegistrationService; registerLimiter: RateLimiter }): void {
  app.post('/api/self-service/registration', async (request, reply) => {
    // JSON only: a form post from another site cannot send it without a CORS preflight.
    if (!/^application\/json\b/i.test(request.headers['content-type'] ?? '')) {
      throw new AppError('unsupported_media_type', 415, 'Send the registration as application/json.');
    }
    const parsed = parseBody(registrationBody, request.body);
    if (!parsed) throw new AppError('invalid_request', 400, 'The body must be a JSON object.');
    // Every registration counts against the client IP's allowance (TESSERA_AUTH_FAILURES_PER_MINUTE).
    if (!deps.registerLimiter.take(request.ip)) {
      throw new AppError('too_many_requests', 429, 'Too many registrations from this address. Retry after the delay in Retry-After.');
    }
    const locale = negotiateLocale(undefined, request.headers['accept-language']);
    const tenantId = parsed.data.tenant ?? 'default';
    try {
      // The same answer for an address that already has an account (its owner is mailed instead): no enumeration.
      const { account, phone } = await deps.service.register(registrationInput(parsed.data, parsed.fields, tenantId, locale), requestContext(request));
      return reply.code(201).send({
        id: account.id, status: account.status, email_verified: account.emailVerified, phone_number_verified: account.phoneNumberVerified,
        // The tenant requires a confirmed phone number: the token for /registration/phone/confirm and /resend.
        ...(phone ? { phone_confirmation: { token: phone.token, code_sent: phone.sent } } : {}),
      });
    } catch (err) {
      if (err instanceof RegistrationInvalid) throw new AppError('validation_failed', 400, 'Some fields are invalid.', err.fields);
      if (err instanceof RegistrationRefused) {
        if (err.code === 'invite_invalid') throw new AppError('invite_invalid', 403, INVITE_PROBLEMS[err.reason ?? 'invalid']!);
        const [status, message] = REFUSALS[err.code]!;
        throw new AppError(err.code === 'unknown_tenant' ? 'not_found' : err.code, status, message);
      }
      throw err;
    }
  });
}

/** Who acted and from where, for the audit log. */
export function requestContext(request: FastifyRequest): EventContext {
  const ua = request.headers['user-agent'];
  return { ip: request.ip, userAgent: typeof ua === 'string' ? ua : null };
}

/** The service input from a parsed body: fields of the wrong type are already refused. */
export function registrationInput(body: RegistrationBody, rejected: Record<string, string>, tenantId: string, locale: string): RegistrationInput {
  return {
    tenantId, locale, invite: body.invite || undefined, rejected,
    email: body.email, password: body.password, username: body.username,
    given_name: body.given_name, family_name: body.family_name, phone_number: body.phone_number,
  };
}
