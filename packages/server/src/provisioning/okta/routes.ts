import { AppError } from '../../http/errors.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { EventContext } from '../../audit/events.js';
import { AdminConflict, AdminForbidden, AdminInvalid } from '../../admin/errors.js';
import { NotFoundError, StaleWriteError } from '../../storage/errors.js';
import { ProvisioningDenied } from '../access.js';
import type { ProvisioningAccess, ProvisioningPrincipal } from '../access.js';
import type { Directory, DirectoryUser } from '../directory.js';
import { FilterSyntaxError, parseFilter } from '../filter.js';
import type { FilterNode } from '../filter.js';
import { UnsupportedFilter } from '../query.js';
import type { QueryAttr, UserFilter } from '../query.js';
import type { ProvisioningScope } from '../tokens.js';
import { RateLimiter } from '../rate-limit.js';
import { OKTA, OktaError } from './errors.js';
import { createInput, oktaGroup, oktaUser, updateInput } from './model.js';
import { lenientJson } from '../json.js';

/** Where the Okta-compatible API lives: an Okta SDK's `orgUrl` is `${issuer}${OKTA_BASE}`. */
export const OKTA_BASE = '/compat/okta';
const API = `${OKTA_BASE}/api/v1`;
/** Okta's page size limits for users. */
const DEFAULT_LIMIT = 200;
const MAX_LIMIT = 200;

export interface OktaRouteDeps {
  issuer: string;
  access: ProvisioningAccess;
  directory: Directory;
  limiter: RateLimiter;
}

const listQuery = z.object({
  limit: z.coerce.number().int().min(1).max(MAX_LIMIT * 10).optional(),
  after: z.string().max(512).optional(),
  filter: z.string().max(4096).optional(),
  search: z.string().max(4096).optional(),
  q: z.string().max(256).optional(),
}).loose();
const flag = (v: unknown, fallback: boolean) => (v === undefined ? fallback : v === 'true' || v === true);

/** Okta's `filter`/`search` attribute names → the directory's. */
const OKTA_ATTRS: Record<string, QueryAttr> = {
  id: 'id', status: 'lifecycle', created: 'created', activated: 'activated', lastupdated: 'lastUpdated',
  'profile.login': 'login', 'profile.email': 'email', 'profile.firstname': 'givenName', 'profile.lastname': 'familyName',
  'profile.mobilephone': 'phone',
};

function toUserFilter(node: FilterNode): UserFilter {
  switch (node.type) {
    case 'and': case 'or': return { op: node.type, left: toUserFilter(node.left), right: toUserFilter(node.right) };
    case 'not': return { op: 'not', expr: toUserFilter(node.expr) };
    case 'valuePath': throw new UnsupportedFilter(`${node.path}[…] is not supported here`);
    default: {
      const attr = OKTA_ATTRS[node.path.toLowerCase()];
      if (!attr) throw new UnsupportedFilter(`${node.path} cannot be searched`);
      return node.type === 'pr' ? { op: 'pr', attr } : { op: node.op, attr, value: node.value };
    }
  }
}

/**
 * The Okta-compatible Users and Groups API (docs/provisioning.md#okta):
 * what applications written against Okta's `/api/v1/users` call, answered
 * from Tessera's directory, with Okta's objects, statuses, errors, `Link`
 * pagination and rate-limit headers.
 */
export function registerOktaRoutes(app: FastifyInstance, deps: OktaRouteDeps): void {
  const base = `${deps.issuer}${OKTA_BASE}`;
  const { directory } = deps;

  app.register(async (scope) => {
    // Paths name users by login (an email address): the request log shows the route pattern, not the path.
    scope.addHook('onRoute', (route) => {
      route.config = { ...(route.config as object | undefined), logRoute: true } as typeof route.config;
    });
    lenientJson(scope);
    scope.setErrorHandler((err, request, reply) => sendError(request, reply, err));

    const ctxOf = (request: FastifyRequest, principal: ProvisioningPrincipal): EventContext =>
      ({ actorId: principal.id, ip: request.ip, userAgent: typeof request.headers['user-agent'] === 'string' ? request.headers['user-agent'] : null });
    const authed = async (request: FastifyRequest, reply: FastifyReply, needed: ProvisioningScope) => {
      const principal = await deps.access.authenticate(request.headers.authorization, needed, 'okta_api');
      const limit = deps.limiter.take(principal.id);
      reply.header('x-rate-limit-limit', String(limit.limit)).header('x-rate-limit-remaining', String(limit.remaining))
        .header('x-rate-limit-reset', String(limit.reset));
      if (!limit.allowed) throw OKTA.rateLimited();
      return principal;
    };
    const userOr404 = async (principal: ProvisioningPrincipal, idOrLogin: string): Promise<DirectoryUser> => {
      const found = await directory.find(principal, idOrLogin);
      if (!found) throw OKTA.notFound(idOrLogin);
      return found;
    };

    // --- users ------------------------------------------------------------
    scope.get(`${API}/users`, async (request, reply) => {
      const principal = await authed(request, reply, 'users.read');
      const q = listQuery.safeParse(request.query);
      if (!q.success) throw OKTA.validation(q.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`), 'Api validation failed: query');
      let filter: UserFilter | undefined;
      try {
        const expr = q.data.search ?? q.data.filter;
        if (expr) filter = toUserFilter(parseFilter(expr));
        if (q.data.q) {
          const prefix = q.data.q;
          const anyOf: UserFilter = {
            op: 'or', left: { op: 'sw', attr: 'givenName', value: prefix },
            right: { op: 'or', left: { op: 'sw', attr: 'familyName', value: prefix }, right: { op: 'sw', attr: 'email', value: prefix } },
          };
          filter = filter ? { op: 'and', left: filter, right: anyOf } : anyOf;
        }
      } catch (err) {
        if (err instanceof FilterSyntaxError || err instanceof UnsupportedFilter) throw OKTA.filter(err.message);
        throw err;
      }
      const limit = Math.min(q.data.limit ?? DEFAULT_LIMIT, MAX_LIMIT);
      const { users } = await directory.query(principal, { filter, externalSource: 'okta', after: q.data.after, limit: limit + 1 }, false)
        .catch((err: unknown) => {
          if (err instanceof UnsupportedFilter) throw OKTA.filter(err.message);
          throw err;
        });
      const page = users.slice(0, limit);
      const self = new URL(`${base}/api/v1/users`);
      for (const [k, v] of Object.entries(request.query as Record<string, string>)) if (typeof v === 'string') self.searchParams.set(k, v);
      const links = [`<${self.href}>; rel="self"`];
      if (users.length > limit) {
        const next = new URL(self.href);
        next.searchParams.set('after', page.at(-1)!.user.id);
        next.searchParams.set('limit', String(limit));
        links.push(`<${next.href}>; rel="next"`);
      }
      reply.header('link', links);
      return page.map((u) => oktaUser(u, base));
    });

    scope.post(`${API}/users`, async (request, reply) => {
      const principal = await authed(request, reply, 'users.manage');
      const query = request.query as Record<string, unknown>;
      const activate = flag(query.activate, true);
      const { input, password } = createInput(request.body);
      const lifecycle = !activate ? 'STAGED' : password ? 'ACTIVE' : 'PROVISIONED';
      let created = await directory.create(principal, input, lifecycle, ctxOf(request, principal));
      // Activated without a password: the activation mail goes out, as Okta sends its own.
      if (lifecycle === 'PROVISIONED') created = (await directory.transition(principal, created, 'activate', { sendEmail: true }, ctxOf(request, principal))).user;
      return reply.code(200).send(oktaUser(created, base));
    });

    scope.get(`${API}/users/:idOrLogin`, async (request, reply) => {
      const principal = await authed(request, reply, 'users.read');
      const { idOrLogin } = request.params as { idOrLogin: string };
      return oktaUser(await userOr404(principal, idOrLogin), base);
    });

    const update = (replace: boolean) => async (request: FastifyRequest, reply: FastifyReply) => {
      const principal = await authed(request, reply, 'users.manage');
      const current = await userOr404(principal, (request.params as { idOrLogin: string }).idOrLogin);
      const { patch, password } = updateInput(request.body, replace, current.user);
      let updated = await directory.update(principal, current, patch, ctxOf(request, principal));
      if (password !== undefined) updated = await directory.setPassword(principal, updated, password, ctxOf(request, principal));
      return oktaUser(updated, base);
    };
    scope.post(`${API}/users/:idOrLogin`, update(false));
    scope.put(`${API}/users/:idOrLogin`, update(true));

    scope.delete(`${API}/users/:idOrLogin`, async (request, reply) => {
      const principal = await authed(request, reply, 'users.manage');
      const current = await userOr404(principal, (request.params as { idOrLogin: string }).idOrLogin);
      // Okta's semantics: the first DELETE deactivates; deleting a deactivated user removes it.
      if (current.lifecycle !== 'DEPROVISIONED') await directory.transition(principal, current, 'deactivate', { sendEmail: false }, ctxOf(request, principal));
      else await directory.delete(principal, current, ctxOf(request, principal));
      return reply.code(204).send();
    });

    const LIFECYCLE = ['activate', 'reactivate', 'deactivate', 'suspend', 'unsuspend', 'unlock', 'reset_password'] as const;
    scope.post(`${API}/users/:idOrLogin/lifecycle/:action`, async (request, reply) => {
      const principal = await authed(request, reply, 'users.manage');
      const { idOrLogin, action } = request.params as { idOrLogin: string; action: string };
      if (!(LIFECYCLE as readonly string[]).includes(action)) throw OKTA.notFound(action, 'Lifecycle operation');
      const current = await userOr404(principal, idOrLogin);
      // Okta mails activation and reset links unless told `sendEmail=false` (then the link is in the answer).
      const sendEmail = flag((request.query as Record<string, unknown>).sendEmail, true);
      if (action === 'activate' && current.lifecycle === 'ACTIVE') throw OKTA.alreadyActive();
      const { link } = await directory.transition(principal, current, action as (typeof LIFECYCLE)[number], { sendEmail }, ctxOf(request, principal));
      if (!link) return reply.code(200).send({});
      if (action === 'reset_password') return { summary: 'Reset password without sending email', resetPasswordUrl: link };
      return { activationUrl: link, activationToken: new URL(link).searchParams.get('token') };
    });

    scope.get(`${API}/users/:idOrLogin/groups`, async (request, reply) => {
      const principal = await authed(request, reply, 'users.read');
      const user = await userOr404(principal, (request.params as { idOrLogin: string }).idOrLogin);
      const groups = await directory.groups(principal);
      return groups.filter((g) => user.user.roles.includes(g.name)).map((g) => oktaGroup(g, base));
    });

    // --- groups (Tessera roles) ---------------------------------------------
    scope.get(`${API}/groups`, async (request, reply) => {
      const principal = await authed(request, reply, 'users.read');
      const q = (request.query as { q?: unknown }).q;
      const groups = await directory.groups(principal);
      return groups.filter((g) => typeof q !== 'string' || g.name.toLowerCase().startsWith(q.toLowerCase())).map((g) => oktaGroup(g, base));
    });
    scope.post(`${API}/groups`, async (request, reply) => {
      const principal = await authed(request, reply, 'groups.manage');
      const parsed = groupBody.safeParse(request.body);
      if (!parsed.success) throw OKTA.validation(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`), 'Api validation failed: group');
      const g = await directory.createGroup(principal, parsed.data.profile.name, parsed.data.profile.description ?? null, ctxOf(request, principal));
      return oktaGroup(g, base);
    });
    scope.get(`${API}/groups/:group`, async (request, reply) => {
      const principal = await authed(request, reply, 'users.read');
      return oktaGroup(await directory.group(principal, (request.params as { group: string }).group), base);
    });
    scope.put(`${API}/groups/:group`, async (request, reply) => {
      const principal = await authed(request, reply, 'groups.manage');
      const { group } = request.params as { group: string };
      const parsed = groupBody.safeParse(request.body);
      if (!parsed.success) throw OKTA.validation(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`), 'Api validation failed: group');
      if (parsed.data.profile.name !== group) throw OKTA.validation(['profile.name: a group cannot be renamed']);
      await directory.updateGroup(principal, group, parsed.data.profile.description ?? null, ctxOf(request, principal));
      return oktaGroup(await directory.group(principal, group), base);
    });
    scope.delete(`${API}/groups/:group`, async (request, reply) => {
      const principal = await authed(request, reply, 'groups.manage');
      await directory.deleteGroup(principal, (request.params as { group: string }).group, ctxOf(request, principal));
      return reply.code(204).send();
    });
    scope.get(`${API}/groups/:group/users`, async (request, reply) => {
      const principal = await authed(request, reply, 'users.read');
      const ids = await directory.members(principal, (request.params as { group: string }).group);
      return (await directory.views(principal, ids)).map((u) => oktaUser(u, base));
    });
    const membership = (add: boolean) => async (request: FastifyRequest, reply: FastifyReply) => {
      const principal = await authed(request, reply, 'groups.manage');
      const { group, user } = request.params as { group: string; user: string };
      await directory.group(principal, group);
      const found = await userOr404(principal, user);
      await directory.changeMembership(principal, found.user.id, add ? { add: [group] } : { remove: [group] }, ctxOf(request, principal));
      return reply.code(204).send();
    };
    scope.put(`${API}/groups/:group/users/:user`, membership(true));
    scope.delete(`${API}/groups/:group/users/:user`, membership(false));
    // Anything else under the API: Okta's not-found shape, not the platform's.
    scope.all(`${API}/*`, async () => {
      throw OKTA.notFound('resource', 'Resource');
    });
  });
}

const groupBody = z.object({
  profile: z.object({
    name: z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/, 'must be 1-128 letters, digits, ".", "_", ":" or "-"'),
    description: z.string().max(1024).nullable().optional(),
  }),
});

/** Every failure in Okta's shape; anything unexpected is logged and answered as a generic 500. */
function sendError(request: FastifyRequest, reply: FastifyReply, err: unknown): FastifyReply {
  const e = toOkta(err);
  if (!e) {
    request.log.error({ err }, 'okta-compatible API: unexpected error');
    return reply.code(500).send(new OktaError(500, 'E0000009', 'Internal Server Error').body());
  }
  if (e.status === 401) reply.header('www-authenticate', 'SSWS realm="tessera"');
  return reply.code(e.status).send(e.body());
}

function toOkta(err: unknown): OktaError | undefined {
  if (err instanceof OktaError) return err;
  if (err instanceof ProvisioningDenied) return err.status === 401 ? OKTA.invalidToken() : OKTA.forbidden();
  if (err instanceof NotFoundError) return OKTA.notFound(err.message.replace(/^.*: /, ''), err.message.includes('group') ? 'UserGroup' : 'User');
  if (err instanceof AdminInvalid) return OKTA.validation(Object.entries(err.fields).map(([k, v]) => `${oktaField(k)}: ${v}`));
  if (err instanceof AdminConflict) {
    const fields = Object.keys(err.fields ?? {});
    return fields.length ? OKTA.validation(fields.map((f) => `${oktaField(f)}: An object with this field already exists in the current organization`))
      : OKTA.validation([err.message]);
  }
  if (err instanceof AdminForbidden) return OKTA.forbidden();
  if (err instanceof StaleWriteError) return OKTA.validation(['The user was changed at the same time; read it again.']);
  if (err instanceof FilterSyntaxError || err instanceof UnsupportedFilter) return OKTA.filter(err.message);
  // Tessera's request checks (e.g. invalid UTF-8: http/utf8.ts) in Okta's shape.
  if (err instanceof AppError && err.status === 400) return OKTA.malformed(err.publicMessage);
  const status = (err as { statusCode?: number }).statusCode;
  if (status === 415 || (status === 400 && (err as { code?: string }).code?.startsWith('FST_ERR_CTP'))) return OKTA.malformed((err as Error).message);
  if (status === 413) return new OktaError(413, 'E0000003', 'The request body was too large.');
  if ((err as { name?: string }).name === 'DatabaseUnavailableError') return OKTA.unavailable();
  return undefined;
}

/** Tessera field names in causes → Okta's profile names. */
function oktaField(field: string): string {
  const map: Record<string, string> = { username: 'login', email: 'email', given_name: 'firstName', family_name: 'lastName', phone_number: 'mobilePhone' };
  if (field.startsWith('attributes.')) return field.slice('attributes.'.length);
  return map[field] ?? field;
}
