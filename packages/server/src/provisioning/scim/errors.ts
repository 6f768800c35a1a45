import { AppError } from '../../http/errors.js';
import { AdminConflict, AdminForbidden, AdminInvalid } from '../../admin/errors.js';
import { NotFoundError, StaleWriteError } from '../../storage/errors.js';
import { ProvisioningDenied } from '../access.js';
import { FilterSyntaxError } from '../filter.js';
import { UnsupportedFilter } from '../query.js';

export const ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';

/** RFC 7644 §3.12 `scimType` values. */
export type ScimType = 'invalidFilter' | 'tooMany' | 'uniqueness' | 'mutability' | 'invalidSyntax' | 'invalidPath' | 'noTarget' | 'invalidValue' | 'invalidVers' | 'sensitive';

/** A SCIM error response (RFC 7644 §3.12). */
export class ScimError extends Error {
  constructor(readonly status: number, readonly detail: string, readonly scimType?: ScimType) {
    super(detail);
    this.name = 'ScimError';
  }

  body(): Record<string, unknown> {
    return { schemas: [ERROR_SCHEMA], status: String(this.status), ...(this.scimType ? { scimType: this.scimType } : {}), detail: this.detail };
  }
}

export const SCIM = {
  invalidSyntax: (detail: string) => new ScimError(400, detail, 'invalidSyntax'),
  invalidValue: (detail: string) => new ScimError(400, detail, 'invalidValue'),
  invalidPath: (detail: string) => new ScimError(400, detail, 'invalidPath'),
  noTarget: (detail: string) => new ScimError(400, detail, 'noTarget'),
  mutability: (detail: string) => new ScimError(400, detail, 'mutability'),
  invalidFilter: (detail: string) => new ScimError(400, detail, 'invalidFilter'),
  uniqueness: (detail: string) => new ScimError(409, detail, 'uniqueness'),
  notFound: (what: string) => new ScimError(404, `Resource ${what} not found`),
  preconditionFailed: () => new ScimError(412, 'The resource was changed since the version in If-Match'),
};

/** Domain errors (admin services, access, filters) as SCIM errors; undefined for the unexpected. */
export function toScim(err: unknown): ScimError | undefined {
  if (err instanceof ScimError) return err;
  if (err instanceof ProvisioningDenied) {
    return err.status === 401 ? new ScimError(401, 'The bearer token is missing, invalid, expired, revoked or of another tenant.')
      : new ScimError(403, err.message);
  }
  if (err instanceof NotFoundError) return new ScimError(404, err.message);
  if (err instanceof AdminConflict) {
    const fields = Object.keys(err.fields ?? {});
    return SCIM.uniqueness(fields.length ? `${fields.map(scimField).join(', ')}: already used by another resource` : err.message);
  }
  if (err instanceof AdminInvalid) {
    return SCIM.invalidValue(Object.entries(err.fields).map(([k, v]) => `${scimField(k)}: ${v}`).join('; ') || err.message);
  }
  if (err instanceof AdminForbidden) return new ScimError(403, err.message);
  if (err instanceof StaleWriteError) return SCIM.preconditionFailed();
  if (err instanceof FilterSyntaxError || err instanceof UnsupportedFilter) return SCIM.invalidFilter(err.message);
  // Tessera's request checks (e.g. invalid UTF-8: http/utf8.ts) in SCIM's shape.
  if (err instanceof AppError && err.status === 400) return SCIM.invalidSyntax(err.publicMessage);
  const status = (err as { statusCode?: number }).statusCode;
  if (status === 413) return new ScimError(413, 'The request is too large.');
  if (status === 415) return new ScimError(415, 'Send the body as application/scim+json or application/json.');
  if (status === 400) return SCIM.invalidSyntax((err as Error).message);
  if ((err as { name?: string }).name === 'DatabaseUnavailableError') return new ScimError(503, 'The directory is temporarily unavailable.');
  return undefined;
}

function scimField(field: string): string {
  const map: Record<string, string> = {
    username: 'userName', email: 'emails', given_name: 'name.givenName', family_name: 'name.familyName', phone_number: 'phoneNumbers', password: 'password',
  };
  if (field.startsWith('attributes.')) return field.slice('attributes.'.length);
  if (field.startsWith('external_ids.')) return 'externalId';
  return map[field] ?? field;
}
