import { randomBytes } from 'node:crypto';

/**
 * Okta's error shape (developer.okta.com "Error codes"): `errorCode`,
 * `errorSummary`, `errorLink`, `errorId`, `errorCauses`. Clients written
 * against Okta (and its SDKs) switch on `errorCode`.
 */
export class OktaError extends Error {
  constructor(readonly status: number, readonly code: string, readonly summary: string, readonly causes: string[] = []) {
    super(summary);
    this.name = 'OktaError';
  }

  body(): Record<string, unknown> {
    return {
      errorCode: this.code,
      errorSummary: this.summary,
      errorLink: this.code,
      errorId: `oae${randomBytes(11).toString('base64url')}`,
      errorCauses: this.causes.map((errorSummary) => ({ errorSummary })),
    };
  }
}

export const OKTA = {
  validation: (causes: string[], summary = 'Api validation failed: user') => new OktaError(400, 'E0000001', summary, causes),
  malformed: (detail: string) => new OktaError(400, 'E0000003', 'The request body was not well-formed.', [detail]),
  notFound: (what: string, kind = 'User') => new OktaError(404, 'E0000007', `Not found: Resource not found: ${what} (${kind})`),
  invalidToken: () => new OktaError(401, 'E0000011', 'Invalid token provided'),
  forbidden: () => new OktaError(403, 'E0000006', 'You do not have permission to perform the requested action'),
  alreadyActive: () => new OktaError(403, 'E0000016', 'Activation failed because the user is already active'),
  methodNotAllowed: () => new OktaError(405, 'E0000022', 'The endpoint does not support the provided HTTP method'),
  rateLimited: () => new OktaError(429, 'E0000047', 'API call exceeded rate limit due to too many requests.'),
  filter: (detail: string) => new OktaError(400, 'E0000031', 'Invalid search criteria.', [detail]),
  conflict: (detail: string) => new OktaError(400, 'E0000001', 'Api validation failed: user', [detail]),
  unavailable: () => new OktaError(503, 'E0000010', 'Service is in read only mode or temporarily unavailable'),
} as const;
