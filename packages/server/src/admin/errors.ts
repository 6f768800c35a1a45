/**
 * Domain errors of the admin services (no HTTP here); routing.ts maps them:
 * AdminInvalid → 400 validation_failed, AdminConflict → 409 conflict (both
 * with `fields`), AdminForbidden → 403 access_denied.
 */
export class AdminInvalid extends Error {
  constructor(readonly fields: Record<string, string>, message = 'Some fields are invalid.') {
    super(message);
    this.name = 'AdminInvalid';
  }
}

export class AdminConflict extends Error {
  constructor(message: string, readonly fields?: Record<string, string>) {
    super(message);
    this.name = 'AdminConflict';
  }
}

/** The caller administers a tenant, but this operation is for platform administrators (or another tenant's). */
export class AdminForbidden extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AdminForbidden';
  }
}
