import { z } from 'zod';
import type { ExternalLinkRepository } from '../federation/links.js';
import { AppError } from '../http/errors.js';
import type { AdminEmit } from './audit.js';
import type { AdminRouter } from './routing.js';
import { iso, isoTime, listOf, pathId } from './schemas.js';
import type { UserAdminService } from './users/service.js';

const linkView = z.object({
  provider: z.string().describe('The identity provider\'s alias.'),
  subject: z.string().describe('The account\'s subject at the provider.'),
  email: z.string().nullable().describe('The address the provider asserted when the link was made (display only).'),
  created_at: isoTime,
  last_used_at: isoTime.nullable(),
});
const userParams = z.object({ id: pathId });
// A provider subject can be any string (an SAML NameID, an LDAP DN): one percent-encoded path segment.
const linkParams = z.object({ id: pathId, provider: pathId, subject: pathId });

/**
 * A user's links to external identity providers (federation): list, and
 * remove one — after which that provider account no longer signs in as the
 * user (a later federated sign-in may link again per the provider's linking
 * rules). Removal needs step-up: it changes how someone can sign in.
 */
export function registerLinkRoutes(route: AdminRouter, users: UserAdminService, links: ExternalLinkRepository, emit: AdminEmit): void {
  const tag = 'Users';
  const scope = 'identity.admin' as const;
  route({
    method: 'GET', path: '/users/:id/links', tag, scope, summary: 'List a user\'s external identity links',
    params: userParams, response: listOf(linkView), errors: [404],
    async handler({ principal, params }) {
      const user = await users.get(principal, params.id);
      return {
        items: (await links.listForUser(user.id)).map((l) => ({
          provider: l.provider, subject: l.subject, email: l.email, created_at: iso(l.createdAt)!, last_used_at: iso(l.lastUsedAt),
        })),
      };
    },
  });

  route({
    method: 'DELETE', path: '/users/:id/links/:provider/:subject', tag, scope, summary: 'Remove an external identity link', stepUp: 'always',
    description: 'The provider account no longer signs in as this user. Needs a recent multi-factor sign-in for user callers (RFC 9470).',
    params: linkParams, errors: [404],
    async handler({ principal, params, event, stepUp }) {
      stepUp();
      const user = await users.get(principal, params.id);
      if (!(await links.unlink(user.id, params.provider, params.subject))) throw new AppError('not_found', 404, 'The user has no such link.');
      await emit('user.unlinked', principal, { tenantId: user.tenantId, subjectId: user.id }, event,
        { target: 'user', provider: params.provider, subject: params.subject });
    },
  });
}
