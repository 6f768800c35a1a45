import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { EventContext } from '../../audit/events.js';
import { ID_PATTERN } from '../../identity/model.js';
import type { UserDataService } from '../../userdata/service.js';
import type { ProvisioningAccess, ProvisioningPrincipal } from '../access.js';
import type { Directory, DirectoryUser } from '../directory.js';
import { loginOf } from '../directory.js';
import { parseFilter } from '../filter.js';
import type { FilterNode } from '../filter.js';
import { UnsupportedFilter } from '../query.js';
import type { QueryAttr, SortAttr, UserFilter } from '../query.js';
import type { ProvisioningScope } from '../tokens.js';
import type { RateLimiter } from '../rate-limit.js';
import { SCIM, ScimError, toScim } from './errors.js';
import { applyPatch, matches, parseOperations } from './patch.js';
import {
  ENTERPRISE_SCHEMA, GROUP_SCHEMA, LIST_SCHEMA, SCIM_SOURCE, TESSERA_SCHEMA, USER_SCHEMA, groupResource, resourceTypes, schemas, serviceProviderConfig,
  userResource, userVersion,
} from './resources.js';
import { newUserInput, readScimUser, replacement } from './users.js';
import { lenientJson } from '../json.js';

export const SCIM_BASE = '/scim/v2';
const MAX_COUNT = 200;
const DEFAULT_COUNT = 100;
const EXTENSIONS = [ENTERPRISE_SCHEMA, TESSERA_SCHEMA, USER_SCHEMA, GROUP_SCHEMA] as const;

export interface ScimRouteDeps {
  issuer: string;
  access: ProvisioningAccess;
  directory: Directory;
  userData: UserDataService;
  limiter: RateLimiter;
}

/** SCIM user attribute paths (lower-case) → the directory's query attributes. */
const USER_ATTRS: Record<string, QueryAttr> = {
  id: 'id', username: 'login', externalid: 'externalId', 'name.givenname': 'givenName', 'name.familyname': 'familyName',
  emails: 'email', 'emails.value': 'email', phonenumbers: 'phone', 'phonenumbers.value': 'phone', active: 'active',
  'meta.created': 'created', 'meta.lastmodified': 'lastUpdated',
};
const SORT_ATTRS: Record<string, SortAttr> = {
  id: 'id', username: 'login', 'name.givenname': 'givenName', 'name.familyname': 'familyName', emails: 'email', 'emails.value': 'email',
  'meta.created': 'created', 'meta.lastmodified': 'lastUpdated',
};
const ALWAYS: UserFilter = { op: 'pr', attr: 'id' };
const NEVER: UserFilter = { op: 'not', expr: ALWAYS };

/** A SCIM filter over Users as a directory query; `emails[type eq "work"]` style value paths included. */
function userFilter(node: FilterNode): UserFilter {
  switch (node.type) {
    case 'and': case 'or': return { op: node.type, left: userFilter(node.left), right: userFilter(node.right) };
    case 'not': return { op: 'not', expr: userFilter(node.expr) };
    case 'valuePath': {
      const multi = node.path.toLowerCase();
      if (multi !== 'emails' && multi !== 'phonenumbers') throw new UnsupportedFilter(`${node.path}[…] cannot be filtered`);
      return subFilter(node.filter, multi === 'emails' ? 'email' : 'phone', multi === 'emails' ? 'work' : 'mobile');
    }
    default: {
      const attr = USER_ATTRS[stripSchema(node.path).toLowerCase()];
      if (!attr) throw new UnsupportedFilter(`${node.path} cannot be filtered`);
      return node.type === 'pr' ? { op: 'pr', attr } : { op: node.op, attr, value: node.value };
    }
  }
}

/** Inside `emails[...]`: `value` is the address; `type` and `primary` describe the one value Tessera keeps. */
function subFilter(node: FilterNode, attr: QueryAttr, type: string): UserFilter {
  switch (node.type) {
    case 'and': case 'or': return { op: node.type, left: subFilter(node.left, attr, type), right: subFilter(node.right, attr, type) };
    case 'not': return { op: 'not', expr: subFilter(node.expr, attr, type) };
    case 'pr': return node.path.toLowerCase() === 'value' ? { op: 'pr', attr } : ALWAYS;
    case 'cmp': {
      const sub = node.path.toLowerCase();
      if (sub === 'value') return { op: node.op, attr, value: node.value };
      if (sub === 'type') return node.op === 'eq' ? (String(node.value).toLowerCase() === type ? { op: 'pr', attr } : NEVER) : ALWAYS;
      if (sub === 'primary') return node.value === true || node.value === 'true' ? { op: 'pr', attr } : NEVER;
      throw new UnsupportedFilter(`${node.path} cannot be filtered`);
    }
    default: throw new UnsupportedFilter('nested value paths are not supported');
  }
}

const stripSchema = (path: string) => (/^urn:/i.test(path) && path.toLowerCase().startsWith(`${USER_SCHEMA.toLowerCase()}:`) ? path.slice(USER_SCHEMA.length + 1) : path);

/** `attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5); `id` and `schemas` are always returned. */
function project(resource: Record<string, unknown>, attributes?: string, excluded?: string): Record<string, unknown> {
  const list = (v: string) => v.split(',').map((s) => stripSchema(s.trim())).filter(Boolean);
  if (attributes) {
    const wanted = list(attributes);
    const out: Record<string, unknown> = { schemas: resource.schemas, id: resource.id };
    for (const w of wanted) {
      const [top, sub] = w.split('.') as [string, string?];
      const key = Object.keys(resource).find((k) => k.toLowerCase() === top.toLowerCase());
      if (!key) continue;
      const value = resource[key];
      if (sub && value && typeof value === 'object' && !Array.isArray(value)) {
        const subKey = Object.keys(value).find((k) => k.toLowerCase() === sub.toLowerCase());
        if (subKey) out[key] = { ...(out[key] as object | undefined), [subKey]: (value as Record<string, unknown>)[subKey] };
      } else {
        out[key] = value;
      }
    }
    return out;
  }
  if (excluded) {
    const out = { ...resource };
    for (const e of list(excluded)) {
      const key = Object.keys(out).find((k) => k.toLowerCase() === e.toLowerCase());
      if (key && key !== 'id' && key !== 'schemas') delete out[key];
    }
    return out;
  }
  return resource;
}

interface ListParams { filter?: string; startIndex?: number; count?: number; sortBy?: string; sortOrder?: string; attributes?: string; excludedAttributes?: string }

function listParams(raw: Record<string, unknown>): ListParams {
  const num = (v: unknown, what: string) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n)) throw SCIM.invalidValue(`${what} must be an integer`);
    return n;
  };
  const s = (v: unknown, what: string) => {
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || v.length > 4096) throw SCIM.invalidValue(`${what} must be a string`);
    return v;
  };
  return {
    filter: s(raw.filter, 'filter'), startIndex: num(raw.startIndex, 'startIndex'), count: num(raw.count, 'count'),
    sortBy: s(raw.sortBy, 'sortBy'), sortOrder: s(raw.sortOrder, 'sortOrder'),
    attributes: s(raw.attributes, 'attributes'), excludedAttributes: s(raw.excludedAttributes, 'excludedAttributes'),
  };
}

/**
 * SCIM 2.0 (RFC 7643/7644) at `${issuer}/scim/v2/{tenant}` (docs/provisioning.md#scim):
 * Users and Groups (Tessera roles), filters, paging, sorting, attribute
 * projection, ETags with If-Match, PATCH, and the discovery endpoints.
 */
export function registerScimRoutes(app: FastifyInstance, deps: ScimRouteDeps): void {
  const { directory } = deps;

  app.register(async (scope) => {
    lenientJson(scope);
    scope.setErrorHandler((err, request, reply) => sendError(request, reply, err));
    scope.addHook('onSend', async (_request, reply, payload) => {
      if (reply.getHeader('content-type')?.toString().startsWith('application/json')) reply.header('content-type', 'application/scim+json; charset=utf-8');
      reply.header('cache-control', 'no-store');
      return payload;
    });

    const baseOf = (tenant: string) => `${deps.issuer}${SCIM_BASE}/${encodeURIComponent(tenant)}`;
    const ctxOf = (request: FastifyRequest, principal: ProvisioningPrincipal): EventContext =>
      ({ actorId: principal.id, ip: request.ip, userAgent: typeof request.headers['user-agent'] === 'string' ? request.headers['user-agent'] : null });
    const authed = async (request: FastifyRequest, reply: FastifyReply, needed: ProvisioningScope) => {
      const { tenant } = request.params as { tenant: string };
      if (!ID_PATTERN.test(tenant)) throw new ScimError(401, 'The bearer token is missing, invalid, expired, revoked or of another tenant.');
      const principal = await deps.access.authenticate(request.headers.authorization, needed, 'scim', tenant);
      const limit = deps.limiter.take(principal.id);
      reply.header('x-rate-limit-limit', String(limit.limit)).header('x-rate-limit-remaining', String(limit.remaining)).header('x-rate-limit-reset', String(limit.reset));
      if (!limit.allowed) throw new ScimError(429, 'Too many requests; retry after the rate-limit window.', 'tooMany');
      return principal;
    };
    const groupsOf = (principal: ProvisioningPrincipal) => directory.groups(principal);
    const sendUser = async (reply: FastifyReply, principal: ProvisioningPrincipal, d: DirectoryUser, status = 200) => {
      const base = baseOf(principal.tenantId);
      reply.code(status).header('etag', userVersion(d));
      if (status === 201) reply.header('location', `${base}/Users/${d.user.id}`);
      return userResource(d, base, await groupsOf(principal));
    };
    const checkIfMatch = (request: FastifyRequest, version: string) => {
      const ifMatch = request.headers['if-match'];
      if (ifMatch === undefined || ifMatch === '*') return;
      const wanted = String(ifMatch).split(',').map((v) => v.trim());
      if (!wanted.includes(version) && !wanted.includes(version.replace(/^W\//, ''))) throw SCIM.preconditionFailed();
    };
    const userOr404 = async (principal: ProvisioningPrincipal, id: string) => {
      const found = await directory.find(principal, id);
      if (!found || found.user.id !== id) throw SCIM.notFound(`Users/${id}`);
      return found;
    };
    const removable = async (tenantId: string) => new Set((await deps.userData.definitions(tenantId)).filter((d) => d.source === null).map((d) => d.name));

    // --- discovery -----------------------------------------------------------
    const T = `${SCIM_BASE}/:tenant`;
    scope.get(`${T}/ServiceProviderConfig`, async (request, reply) => {
      await authed(request, reply, 'users.read');
      return serviceProviderConfig(`${deps.issuer}/docs/provisioning#scim`);
    });
    scope.get(`${T}/ResourceTypes`, async (request, reply) => {
      const p = await authed(request, reply, 'users.read');
      const list = resourceTypes(baseOf(p.tenantId));
      return { schemas: [LIST_SCHEMA], totalResults: list.length, startIndex: 1, itemsPerPage: list.length, Resources: list };
    });
    scope.get(`${T}/ResourceTypes/:id`, async (request, reply) => {
      const p = await authed(request, reply, 'users.read');
      const found = resourceTypes(baseOf(p.tenantId)).find((r) => r.id === (request.params as { id: string }).id);
      if (!found) throw SCIM.notFound('ResourceType');
      return found;
    });
    scope.get(`${T}/Schemas`, async (request, reply) => {
      const p = await authed(request, reply, 'users.read');
      const list = schemas(baseOf(p.tenantId), await deps.userData.definitions(p.tenantId));
      return { schemas: [LIST_SCHEMA], totalResults: list.length, startIndex: 1, itemsPerPage: list.length, Resources: list };
    });
    scope.get(`${T}/Schemas/:id`, async (request, reply) => {
      const p = await authed(request, reply, 'users.read');
      const found = schemas(baseOf(p.tenantId), await deps.userData.definitions(p.tenantId)).find((s) => s.id === (request.params as { id: string }).id);
      if (!found) throw SCIM.notFound('Schema');
      return found;
    });

    // --- users ---------------------------------------------------------------
    const listUsers = async (request: FastifyRequest, reply: FastifyReply, raw: Record<string, unknown>) => {
      const principal = await authed(request, reply, 'users.read');
      const p = listParams(raw);
      const startIndex = Math.max(1, p.startIndex ?? 1);
      const count = Math.min(Math.max(0, p.count ?? DEFAULT_COUNT), MAX_COUNT);
      let filter: UserFilter | undefined;
      if (p.filter) filter = userFilter(parseFilter(p.filter));
      let sort: { by: SortAttr; descending: boolean } | undefined;
      if (p.sortBy) {
        const by = SORT_ATTRS[stripSchema(p.sortBy).toLowerCase()];
        if (!by) throw SCIM.invalidValue(`sortBy ${p.sortBy} is not supported`);
        sort = { by, descending: p.sortOrder?.toLowerCase() === 'descending' };
      }
      const { users, total } = await directory.query(principal, { filter, externalSource: SCIM_SOURCE, sort, offset: startIndex - 1, limit: count }, true);
      const base = baseOf(principal.tenantId);
      const groups = await groupsOf(principal);
      return {
        schemas: [LIST_SCHEMA], totalResults: total ?? users.length, startIndex, itemsPerPage: users.length,
        Resources: users.map((u) => project(userResource(u, base, groups), p.attributes, p.excludedAttributes)),
      };
    };
    scope.get(`${T}/Users`, async (request, reply) => listUsers(request, reply, request.query as Record<string, unknown>));
    scope.post(`${T}/Users/.search`, async (request, reply) => {
      const body = (request.body ?? {}) as Record<string, unknown>;
      const raw = { ...body, ...(Array.isArray(body.attributes) ? { attributes: (body.attributes as string[]).join(',') } : {}),
        ...(Array.isArray(body.excludedAttributes) ? { excludedAttributes: (body.excludedAttributes as string[]).join(',') } : {}) };
      return listUsers(request, reply, raw);
    });

    scope.post(`${T}/Users`, async (request, reply) => {
      const principal = await authed(request, reply, 'users.manage');
      const u = readScimUser(request.body);
      const created = await directory.create(principal, newUserInput(u), u.active ? 'ACTIVE' : 'SUSPENDED', ctxOf(request, principal));
      return sendUser(reply, principal, created, 201);
    });

    scope.get(`${T}/Users/:id`, async (request, reply) => {
      const principal = await authed(request, reply, 'users.read');
      const d = await userOr404(principal, (request.params as { id: string }).id);
      const q = request.query as { attributes?: string; excludedAttributes?: string };
      reply.header('etag', userVersion(d));
      return project(userResource(d, baseOf(principal.tenantId), await groupsOf(principal)), q.attributes, q.excludedAttributes);
    });

    /** PUT, and PATCH after applying its operations: the resource as the client wants it now. */
    const save = async (request: FastifyRequest, reply: FastifyReply, principal: ProvisioningPrincipal, current: DirectoryUser, wanted: unknown) => {
      const u = readScimUser(wanted);
      const ctx = ctxOf(request, principal);
      let d = await directory.update(principal, current, replacement(u, current.user, await removable(principal.tenantId)), ctx);
      if (u.password) d = await directory.setPassword(principal, d, u.password, ctx);
      // active: false disables the account and ends its sessions; true enables it again.
      if (!u.active && d.user.status !== 'disabled') d = (await directory.transition(principal, d, 'deactivate', { sendEmail: false }, ctx)).user;
      if (u.active && d.user.status === 'disabled') d = (await directory.transition(principal, d, 'enable', { sendEmail: false }, ctx)).user;
      return sendUser(reply, principal, d);
    };
    scope.put(`${T}/Users/:id`, async (request, reply) => {
      const principal = await authed(request, reply, 'users.manage');
      const current = await userOr404(principal, (request.params as { id: string }).id);
      checkIfMatch(request, userVersion(current));
      return save(request, reply, principal, current, request.body);
    });
    scope.patch(`${T}/Users/:id`, async (request, reply) => {
      const principal = await authed(request, reply, 'users.manage');
      const current = await userOr404(principal, (request.params as { id: string }).id);
      checkIfMatch(request, userVersion(current));
      const ops = parseOperations(request.body);
      const resource = userResource(current, baseOf(principal.tenantId), await groupsOf(principal));
      const patched = applyPatch(resource, ops, { extensions: EXTENSIONS, readOnly: ['id', 'meta', 'groups', 'schemas'] });
      for (const k of ['id', 'meta', 'groups', 'displayName']) delete patched[k];
      return save(request, reply, principal, current, patched);
    });
    scope.delete(`${T}/Users/:id`, async (request, reply) => {
      const principal = await authed(request, reply, 'users.manage');
      const current = await userOr404(principal, (request.params as { id: string }).id);
      checkIfMatch(request, userVersion(current));
      await directory.delete(principal, current, ctxOf(request, principal));
      return reply.code(204).send();
    });

    // --- groups (Tessera roles) -----------------------------------------------
    const groupJson = async (principal: ProvisioningPrincipal, g: { name: string; description: string | null }, withMembers: boolean) => {
      const ids = withMembers ? await directory.members(principal, g.name) : [];
      const members = (await directory.views(principal, ids)).map((u) => ({ id: u.user.id, display: loginOf(u.user) }));
      return groupResource(g, members, baseOf(principal.tenantId));
    };
    const groupEtag = (json: Record<string, unknown>) => `W/"${createHash('sha256').update(JSON.stringify(json)).digest('base64url').slice(0, 16)}"`;
    scope.get(`${T}/Groups`, async (request, reply) => {
      const principal = await authed(request, reply, 'users.read');
      const p = listParams(request.query as Record<string, unknown>);
      const filter = p.filter ? parseFilter(p.filter) : undefined;
      const withMembers = !(p.excludedAttributes ?? '').toLowerCase().split(',').map((s) => s.trim()).includes('members')
        && (!p.attributes || p.attributes.toLowerCase().includes('members'));
      const all = await Promise.all((await groupsOf(principal)).map((g) => groupJson(principal, g, withMembers || Boolean(filter))));
      const hits = filter ? all.filter((g) => matchesResource(g, filter)) : all;
      const startIndex = Math.max(1, p.startIndex ?? 1);
      const count = Math.min(Math.max(0, p.count ?? DEFAULT_COUNT), MAX_COUNT);
      const page = hits.slice(startIndex - 1, startIndex - 1 + count);
      return {
        schemas: [LIST_SCHEMA], totalResults: hits.length, startIndex, itemsPerPage: page.length,
        Resources: page.map((g) => project(withMembers ? g : { ...g, members: undefined }, p.attributes, p.excludedAttributes)),
      };
    });
    scope.post(`${T}/Groups`, async (request, reply) => {
      const principal = await authed(request, reply, 'groups.manage');
      const { displayName, members } = readGroup(request.body);
      const name = roleName(displayName);
      const g = await directory.createGroup(principal, name, displayName === name ? null : displayName, ctxOf(request, principal));
      for (const id of members) await directory.changeMembership(principal, id, { add: [name] }, ctxOf(request, principal));
      const json = await groupJson(principal, g, true);
      reply.code(201).header('location', `${baseOf(principal.tenantId)}/Groups/${encodeURIComponent(name)}`).header('etag', groupEtag(json));
      return json;
    });
    const groupOr404 = async (principal: ProvisioningPrincipal, id: string) => {
      try {
        return await directory.group(principal, id);
      } catch {
        throw SCIM.notFound(`Groups/${id}`);
      }
    };
    scope.get(`${T}/Groups/:id`, async (request, reply) => {
      const principal = await authed(request, reply, 'users.read');
      const json = await groupJson(principal, await groupOr404(principal, (request.params as { id: string }).id), true);
      reply.header('etag', groupEtag(json));
      const q = request.query as { attributes?: string; excludedAttributes?: string };
      return project(json, q.attributes, q.excludedAttributes);
    });
    /** Makes the group's name, description and members what `wanted` says. */
    const saveGroup = async (request: FastifyRequest, reply: FastifyReply, principal: ProvisioningPrincipal, current: { name: string; description: string | null }, wanted: unknown) => {
      const { displayName, members } = readGroup(wanted);
      const ctx = ctxOf(request, principal);
      const description = displayName === current.name ? null : displayName;
      if (description !== current.description) await directory.updateGroup(principal, current.name, description, ctx);
      const before = new Set(await directory.members(principal, current.name));
      const after = new Set(members);
      for (const id of after) if (!before.has(id)) await directory.changeMembership(principal, id, { add: [current.name] }, ctx);
      for (const id of before) if (!after.has(id)) await directory.changeMembership(principal, id, { remove: [current.name] }, ctx);
      const json = await groupJson(principal, await directory.group(principal, current.name), true);
      reply.header('etag', groupEtag(json));
      return json;
    };
    scope.put(`${T}/Groups/:id`, async (request, reply) => {
      const principal = await authed(request, reply, 'groups.manage');
      const current = await groupOr404(principal, (request.params as { id: string }).id);
      checkIfMatch(request, groupEtag(await groupJson(principal, current, true)));
      return saveGroup(request, reply, principal, current, request.body);
    });
    scope.patch(`${T}/Groups/:id`, async (request, reply) => {
      const principal = await authed(request, reply, 'groups.manage');
      const current = await groupOr404(principal, (request.params as { id: string }).id);
      const json = await groupJson(principal, current, true);
      checkIfMatch(request, groupEtag(json));
      const patched = applyPatch(json, parseOperations(request.body), { extensions: EXTENSIONS, readOnly: ['id', 'meta', 'schemas'] });
      // RFC 7644 §3.5.2: 200 with the resource (Entra ID and Okta accept it, as they do 204).
      return saveGroup(request, reply, principal, current, patched);
    });
    scope.all(`${T}/*`, async () => {
      throw SCIM.notFound('endpoint');
    });
    scope.delete(`${T}/Groups/:id`, async (request, reply) => {
      const principal = await authed(request, reply, 'groups.manage');
      const current = await groupOr404(principal, (request.params as { id: string }).id);
      await directory.deleteGroup(principal, current.name, ctxOf(request, principal));
      return reply.code(204).send();
    });
  });
}

/** A Group body: its display name and member ids. @throws ScimError */
function readGroup(body: unknown): { displayName: string; members: string[] } {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw SCIM.invalidSyntax('The body must be a JSON object.');
  const b = body as Record<string, unknown>;
  const key = (n: string) => Object.keys(b).find((k) => k.toLowerCase() === n.toLowerCase()) ?? n;
  const displayName = b[key('displayName')];
  if (typeof displayName !== 'string' || !displayName.trim() || displayName.length > 256) throw SCIM.invalidValue('displayName is required (1-256 characters)');
  const raw = b[key('members')] ?? [];
  if (!Array.isArray(raw)) throw SCIM.invalidValue('members must be a list');
  const members = raw.map((m, i) => {
    const v = (m as { value?: unknown })?.value;
    if (typeof v !== 'string' || !v) throw SCIM.invalidValue(`members[${i}].value must be a user id`);
    return v;
  });
  return { displayName: displayName.trim(), members: [...new Set(members)] };
}

/** Role names are identifiers: a display name such as "Sales Team" becomes "Sales-Team" (the display name is kept as the role's description). */
export function roleName(displayName: string): string {
  const slug = displayName.normalize('NFKD').replace(/[^A-Za-z0-9._:-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 128);
  if (!slug || !ID_PATTERN.test(slug)) throw SCIM.invalidValue('displayName must contain letters or digits');
  return slug;
}

/** A SCIM filter over a resource's JSON, in memory (groups: few per tenant). */
function matchesResource(resource: Record<string, unknown>, f: FilterNode): boolean {
  switch (f.type) {
    case 'and': return matchesResource(resource, f.left) && matchesResource(resource, f.right);
    case 'or': return matchesResource(resource, f.left) || matchesResource(resource, f.right);
    case 'not': return !matchesResource(resource, f.expr);
    case 'valuePath': {
      const list = resource[Object.keys(resource).find((k) => k.toLowerCase() === f.path.toLowerCase()) ?? f.path];
      return Array.isArray(list) && list.some((e) => matches(e, f.filter));
    }
    default: {
      const [top, sub] = f.path.split('.') as [string, string?];
      const value = resource[Object.keys(resource).find((k) => k.toLowerCase() === top.toLowerCase()) ?? top];
      if (Array.isArray(value)) return value.some((e) => matches(e, { ...f, path: sub ?? 'value' }));
      if (sub && value && typeof value === 'object') return matches(value, { ...f, path: sub });
      return matches({ v: value }, { ...f, path: 'v' });
    }
  }
}

function sendError(request: FastifyRequest, reply: FastifyReply, err: unknown): FastifyReply {
  const e = toScim(err);
  if (!e) {
    request.log.error({ err }, 'SCIM: unexpected error');
    return reply.code(500).send(new ScimError(500, 'Internal server error').body());
  }
  if (e.status === 401) reply.header('www-authenticate', 'Bearer realm="tessera-scim"');
  return reply.code(e.status).send(e.body());
}
