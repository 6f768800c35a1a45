import { z } from 'zod';
import { AppError } from '../../http/errors.js';
import type { ActivationService } from '../../userdata/activation.js';
import { ACTIVATION_PER_HOUR } from '../../userdata/activation.js';
import type { AdminEmit } from '../audit.js';
import { AdminConflict } from '../errors.js';
import type { AdminRouter } from '../routing.js';
import type { UserAdminService } from './service.js';
import { userParams } from './schemas.js';

/**
 * POST /users/{id}/activation: sends (or sends again) the activation mail
 * of an account without a password (docs/users.md#activation). A new mail
 * voids the links sent before; at most ACTIVATION_PER_HOUR an hour.
 */
export function registerActivationRoutes(route: AdminRouter, deps: { users: UserAdminService; activation: ActivationService; emit: AdminEmit }): void {
  route({
    method: 'POST', path: '/users/:id/activation', tag: 'Users', scope: 'identity.admin', summary: 'Send or resend the activation mail',
    description: 'For an account without a password: mails a link to set one (valid for the tenant\'s activation_ttl_seconds). '
      + 'Earlier links stop working. 409 when the user has no email, is disabled, or already has a password.',
    params: userParams, status: 202,
    response: z.object({ sent_to: z.string(), expires_in: z.number().int().describe('Seconds the link is valid.') }),
    errors: [404, 409, 429, 503],
    async handler({ principal, params }) {
      const user = await deps.users.get(principal, params.id);
      const refusal = deps.activation.refusal(user);
      if (refusal === 'no_email') throw new AdminConflict('The user has no email address.', { email: 'required' });
      if (refusal === 'disabled') throw new AdminConflict('The user is disabled.', { status: 'disabled' });
      if (refusal === 'already_activated') throw new AdminConflict('The user already has a password.', { status: 'already_activated' });
      if ((await deps.activation.sentLastHour(user.id)) >= ACTIVATION_PER_HOUR) {
        throw new AppError('too_many_requests', 429, `At most ${ACTIVATION_PER_HOUR} activation mails per user an hour.`);
      }
      await deps.activation.send(user, { actorId: principal.id });
      const ttl = (await deps.activation.policyTtl(user.tenantId));
      return { sent_to: user.email!, expires_in: ttl };
    },
  });
}
