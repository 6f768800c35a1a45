import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { AppError } from '../../http/errors.js';
import { checkIfMatch, etagOf } from '../routing.js';
import type { AdminRouter } from '../routing.js';
import { decodeCursor, encodeCursor, listOf, pageOf } from '../schemas.js';
import type { AdminUser, UserAdminService } from './service.js';
import {
  createUserBody, membershipParams, membershipsView, patchUserBody, rolesBody, searchCursor, searchQuery, sessionParams, sessionView,
  toSessionView, toUserView, userParams, userView,
} from './schemas.js';

const tag = 'Users';
const scope = 'identity.admin' as const;

/** Sends a user with its ETag (the value If-Match must carry to change it). */
function sendUser(reply: FastifyReply, user: AdminUser) {
  const view = toUserView(user);
  reply.header('etag', etagOf(view));
  return view;
}

/** The user as the caller last read it: 412 when If-Match names an older representation. */
function unchangedSince(ifMatch: string | undefined, user: AdminUser): AdminUser {
  checkIfMatch(ifMatch, etagOf(toUserView(user)));
  return user;
}

/** Identity admin API: users, their roles, memberships and sessions (docs/admin.md#users). */
export function registerUserRoutes(route: AdminRouter, users: UserAdminService): void {
  route({
    method: 'GET', path: '/users', tag, scope, summary: 'Search users',
    description: 'Exact email or username, name prefix, status; keyset-paginated (newest last for created order, name order for name_prefix). '
      + 'external_id (source:id) or attribute (name:value of a unique attribute) find the one user with it (docs/users.md#lookup).',
    query: searchQuery, response: pageOf(userView), errors: [400, 404],
    async handler({ principal, query }) {
      const after = decodeCursor(query.cursor, searchCursor);
      if (after === 'invalid') throw new AppError('validation_failed', 400, 'The cursor is not one this API issued.', { cursor: 'invalid' });
      const page = await users.search(principal, {
        tenant: query.tenant, email: query.email, username: query.username, namePrefix: query.name_prefix, status: query.status,
        externalId: query.external_id, attribute: query.attribute, after, limit: query.limit,
      });
      return { items: page.users.map(toUserView), next_cursor: page.next ? encodeCursor(page.next) : null };
    },
  });

  route({
    method: 'POST', path: '/users', tag, scope, summary: 'Create a user', stepUp: 'conditional',
    description: 'Granting the admin role needs step-up.',
    body: createUserBody, status: 201, response: userView, etag: true, errors: [400, 409, 415],
    async handler({ principal, body, event, stepUp, reply }) {
      const user = await users.create(principal, body, event, stepUp);
      reply.header('location', `/api/admin/v1/users/${user.id}`);
      return sendUser(reply, user);
    },
  });

  route({
    method: 'GET', path: '/users/:id', tag, scope, summary: 'Read a user',
    params: userParams, response: userView, etag: true, errors: [404],
    async handler({ principal, params, reply }) {
      return sendUser(reply, await users.get(principal, params.id));
    },
  });

  route({
    method: 'PATCH', path: '/users/:id', tag, scope, summary: 'Edit a user\'s profile',
    description: 'Absent fields stay; null clears. A new email or phone number becomes unverified unless the patch says otherwise.',
    params: userParams, body: patchUserBody, ifMatch: 'required', response: userView, etag: true, errors: [400, 404, 409, 412, 415, 428],
    async handler({ principal, params, body, ifMatch, event, reply }) {
      const current = unchangedSince(ifMatch, await users.get(principal, params.id));
      return sendUser(reply, await users.update(principal, current, body, event));
    },
  });

  route({
    method: 'DELETE', path: '/users/:id', tag, scope, summary: 'Delete a user', stepUp: 'always',
    description: 'Ends every session, grant and token first. The audit log keeps the user\'s entries.',
    params: userParams, ifMatch: 'optional', errors: [404, 412],
    async handler({ principal, params, ifMatch, event, stepUp }) {
      stepUp();
      await users.delete(principal, unchangedSince(ifMatch, await users.get(principal, params.id)), event);
    },
  });

  const action = (name: 'disable' | 'enable' | 'unlock', summary: string, description: string, sensitive: boolean) => route({
    method: 'POST', path: `/users/:id/${name}`, tag, scope, summary, description, ...(sensitive ? { stepUp: 'always' as const } : {}),
    params: userParams, ifMatch: 'optional', response: userView, etag: true, errors: [404, 409, 412],
    async handler({ principal, params, ifMatch, event, stepUp, reply }) {
      if (sensitive) stepUp();
      const current = unchangedSince(ifMatch, await users.get(principal, params.id));
      return sendUser(reply, await users[name](principal, current, event));
    },
  });
  action('disable', 'Disable a user', 'The account can no longer sign in; its sessions, grants and tokens end now.', true);
  action('enable', 'Enable a user', 'A disabled or pending account becomes active (409 for a locked one: unlock it).', false);
  action('unlock', 'Unlock a user', 'Ends a temporary or administrator lock and forgets failed sign-ins.', false);

  route({
    method: 'PUT', path: '/users/:id/roles', tag, scope, summary: 'Set a user\'s roles in a tenant', stepUp: 'conditional',
    description: 'Replaces the roles in the home tenant (or another tenant the user is a member of). Granting admin needs step-up.',
    params: userParams, body: rolesBody, ifMatch: 'optional', response: userView, etag: true, errors: [400, 404, 412, 415],
    async handler({ principal, params, body, ifMatch, event, stepUp, reply }) {
      const current = unchangedSince(ifMatch, await users.get(principal, params.id));
      return sendUser(reply, await users.setRoles(principal, current, body, event, stepUp));
    },
  });

  route({
    method: 'GET', path: '/users/:id/memberships', tag, scope, summary: 'List a user\'s tenant memberships',
    params: userParams, response: membershipsView, errors: [404],
    async handler({ principal, params }) {
      return { items: await users.memberships(await users.get(principal, params.id)) };
    },
  });

  route({
    method: 'PUT', path: '/users/:id/memberships/:tenant', tag, scope, summary: 'Add a tenant membership', stepUp: 'always',
    params: membershipParams, response: membershipsView, errors: [404],
    async handler({ principal, params, event, stepUp }) {
      stepUp();
      return { items: await users.addMembership(principal, await users.get(principal, params.id), params.tenant, event) };
    },
  });

  route({
    method: 'DELETE', path: '/users/:id/memberships/:tenant', tag, scope, summary: 'Remove a tenant membership', stepUp: 'always',
    description: 'Also removes the user\'s roles in that tenant. The home tenant\'s membership cannot be removed (409).',
    params: membershipParams, errors: [404, 409],
    async handler({ principal, params, event, stepUp }) {
      stepUp();
      await users.removeMembership(principal, await users.get(principal, params.id), params.tenant, event);
    },
  });

  route({
    method: 'GET', path: '/users/:id/sessions', tag, scope, summary: 'List a user\'s sessions',
    params: userParams, response: listOf(sessionView), errors: [404],
    async handler({ principal, params }) {
      return { items: (await users.listSessions(await users.get(principal, params.id))).map(toSessionView) };
    },
  });

  route({
    method: 'DELETE', path: '/users/:id/sessions/:session', tag, scope, summary: 'Sign a user out of one session',
    description: 'As the account\'s own sign-out: the session, its non-offline grants and back-channel logout notices.',
    params: sessionParams, errors: [404],
    async handler({ principal, params, event }) {
      await users.revokeSession(await users.get(principal, params.id), params.session, event);
    },
  });

  route({
    method: 'DELETE', path: '/users/:id/sessions', tag, scope, summary: 'Sign a user out everywhere',
    params: userParams, response: z.object({ revoked: z.number().int() }), errors: [404],
    async handler({ principal, params, event }) {
      return { revoked: await users.revokeAllSessions(await users.get(principal, params.id), event) };
    },
  });
}
