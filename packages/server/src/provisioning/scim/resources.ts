import type { AttributeDefinition } from '../../userdata/model.js';
import type { DirectoryUser } from '../directory.js';
import { loginOf } from '../directory.js';

/**
 * SCIM 2.0 resources (RFC 7643) made from Tessera's users and roles, and the
 * discovery documents (ServiceProviderConfig, ResourceTypes, Schemas).
 */

export const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
export const ENTERPRISE_SCHEMA = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
/** Tenant attributes (docs/users.md#attributes) that are not enterprise-extension attributes. */
export const TESSERA_SCHEMA = 'urn:ietf:params:scim:schemas:extension:tessera:2.0:User';
export const LIST_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
export const PATCH_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

/** Enterprise extension attributes (RFC 7643 §4.3) kept as tenant attributes of the snake_case name. */
export const ENTERPRISE_ATTRIBUTES: Record<string, string> = {
  employeeNumber: 'employee_number', costCenter: 'cost_center', organization: 'organization', division: 'division', department: 'department',
};

/** The API keeps a SCIM client's `externalId` as the user's external id of this source. */
export const SCIM_SOURCE = 'scim';

const iso = (ms: number | null | undefined) => (ms === null || ms === undefined ? undefined : new Date(ms).toISOString());
export const userVersion = (d: DirectoryUser) => `W/"${d.user.version}"`;

export function userResource(d: DirectoryUser, base: string, groups: Array<{ name: string; description: string | null }>): Record<string, unknown> {
  const u = d.user;
  const attrs = u.data.attributes;
  const enterprise = Object.fromEntries(Object.entries(ENTERPRISE_ATTRIBUTES).filter(([, name]) => attrs[name] !== undefined).map(([key, name]) => [key, attrs[name]]));
  const enterpriseNames = new Set(Object.values(ENTERPRISE_ATTRIBUTES));
  const custom = Object.fromEntries(Object.entries(attrs).filter(([name]) => !enterpriseNames.has(name)));
  const externalId = u.data.externalIds[SCIM_SOURCE];
  const formatted = [u.givenName, u.familyName].filter(Boolean).join(' ');
  const memberOf = groups.filter((g) => u.roles.includes(g.name));
  return {
    schemas: [USER_SCHEMA, ...(Object.keys(enterprise).length ? [ENTERPRISE_SCHEMA] : []), ...(Object.keys(custom).length ? [TESSERA_SCHEMA] : [])],
    id: u.id,
    ...(externalId ? { externalId } : {}),
    userName: loginOf(u),
    name: { ...(formatted ? { formatted } : {}), ...(u.givenName ? { givenName: u.givenName } : {}), ...(u.familyName ? { familyName: u.familyName } : {}) },
    ...(formatted ? { displayName: formatted } : {}),
    ...(u.email ? { emails: [{ value: u.email, type: 'work', primary: true }] } : {}),
    ...(u.phoneNumber ? { phoneNumbers: [{ value: u.phoneNumber, type: 'mobile' }] } : {}),
    ...(u.locale ? { locale: u.locale } : {}),
    active: u.status !== 'disabled',
    ...(memberOf.length ? { groups: memberOf.map((g) => ({ value: g.name, display: g.description ?? g.name, $ref: `${base}/Groups/${encodeURIComponent(g.name)}` })) } : {}),
    ...(Object.keys(enterprise).length ? { [ENTERPRISE_SCHEMA]: enterprise } : {}),
    ...(Object.keys(custom).length ? { [TESSERA_SCHEMA]: custom } : {}),
    meta: {
      resourceType: 'User', created: iso(u.createdAt), lastModified: iso(u.updatedAt),
      location: `${base}/Users/${u.id}`, version: userVersion(d),
    },
  };
}

export function groupResource(g: { name: string; description: string | null }, members: Array<{ id: string; display: string }>, base: string): Record<string, unknown> {
  return {
    schemas: [GROUP_SCHEMA],
    id: g.name,
    displayName: g.description ?? g.name,
    members: members.map((m) => ({ value: m.id, display: m.display, type: 'User', $ref: `${base}/Users/${m.id}` })),
    meta: { resourceType: 'Group', location: `${base}/Groups/${encodeURIComponent(g.name)}` },
  };
}

/** RFC 7643 §5: what this server supports. */
export function serviceProviderConfig(docs: string): Record<string, unknown> {
  return {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig'],
    documentationUri: docs,
    patch: { supported: true },
    bulk: { supported: false, maxOperations: 0, maxPayloadSize: 0 },
    filter: { supported: true, maxResults: 200 },
    changePassword: { supported: true },
    sort: { supported: true },
    etag: { supported: true },
    authenticationSchemes: [{
      type: 'oauthbearertoken', name: 'OAuth Bearer Token', primary: true,
      description: 'A Tessera API token (Authorization: Bearer tsr_…) or a client-credentials access token for the provisioning API.',
      specUri: 'https://www.rfc-editor.org/rfc/rfc6750', documentationUri: docs,
    }],
    meta: { resourceType: 'ServiceProviderConfig' },
  };
}

export function resourceTypes(base: string): Array<Record<string, unknown>> {
  return [
    {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:ResourceType'], id: 'User', name: 'User', endpoint: '/Users', description: 'User Account',
      schema: USER_SCHEMA,
      schemaExtensions: [{ schema: ENTERPRISE_SCHEMA, required: false }, { schema: TESSERA_SCHEMA, required: false }],
      meta: { resourceType: 'ResourceType', location: `${base}/ResourceTypes/User` },
    },
    {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:ResourceType'], id: 'Group', name: 'Group', endpoint: '/Groups', description: 'Group (a Tessera role)',
      schema: GROUP_SCHEMA, meta: { resourceType: 'ResourceType', location: `${base}/ResourceTypes/Group` },
    },
  ];
}

type Attr = Record<string, unknown>;
const attr = (name: string, type: string, more: Attr = {}): Attr => ({
  name, type, multiValued: false, required: false, caseExact: false, mutability: 'readWrite', returned: 'default', uniqueness: 'none', ...more,
});

/** RFC 7643 §7: the schemas, with the tenant's own attributes in the Tessera extension. */
export function schemas(base: string, tenantAttributes: AttributeDefinition[]): Array<Record<string, unknown>> {
  const typeOf: Record<string, string> = { string: 'string', number: 'decimal', boolean: 'boolean', date: 'dateTime', enum: 'string', string_list: 'string' };
  const enterpriseNames = new Set(Object.values(ENTERPRISE_ATTRIBUTES));
  const schema = (id: string, name: string, attributes: Attr[]) => ({
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:Schema'], id, name, attributes, meta: { resourceType: 'Schema', location: `${base}/Schemas/${id}` },
  });
  return [
    schema(USER_SCHEMA, 'User', [
      attr('userName', 'string', { required: true, uniqueness: 'server', description: 'A username, or the email address for users without one.' }),
      attr('name', 'complex', { subAttributes: [attr('formatted', 'string', { mutability: 'readOnly' }), attr('givenName', 'string'), attr('familyName', 'string')] }),
      attr('displayName', 'string', { mutability: 'readOnly' }),
      attr('emails', 'complex', { multiValued: true, subAttributes: [attr('value', 'string'), attr('type', 'string', { canonicalValues: ['work'] }), attr('primary', 'boolean')] }),
      attr('phoneNumbers', 'complex', { multiValued: true, subAttributes: [attr('value', 'string'), attr('type', 'string', { canonicalValues: ['mobile'] })] }),
      attr('locale', 'string'),
      attr('active', 'boolean'),
      attr('password', 'string', { mutability: 'writeOnly', returned: 'never' }),
      attr('groups', 'complex', { multiValued: true, mutability: 'readOnly', subAttributes: [attr('value', 'string'), attr('display', 'string'), attr('$ref', 'reference')] }),
    ]),
    schema(ENTERPRISE_SCHEMA, 'EnterpriseUser', Object.keys(ENTERPRISE_ATTRIBUTES).map((k) => attr(k, 'string'))),
    schema(TESSERA_SCHEMA, 'TesseraUser', tenantAttributes.filter((a) => !enterpriseNames.has(a.name)).map((a) => attr(a.name, typeOf[a.type] ?? 'string', {
      multiValued: a.type === 'string_list', required: a.required, uniqueness: a.unique ? 'server' : 'none', ...(a.description ? { description: a.description } : {}),
      ...(a.type === 'enum' && a.values ? { canonicalValues: a.values } : {}),
    }))),
    schema(GROUP_SCHEMA, 'Group', [
      attr('displayName', 'string', { required: true }),
      attr('members', 'complex', { multiValued: true, subAttributes: [attr('value', 'string', { mutability: 'immutable' }), attr('display', 'string', { mutability: 'readOnly' }), attr('type', 'string'), attr('$ref', 'reference')] }),
    ]),
  ];
}
