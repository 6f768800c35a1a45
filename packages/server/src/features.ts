import type { Feature } from './platform.js';
import { registerRecovery } from './recovery/routes.js';
import { registerAccountRoutes } from './account/routes.js';
import { registerSelfService } from './account/feature.js';
import { registrationFeature } from './registration/routes.js';
import { outboxFeature } from './notify/routes.js';
import { passkeysFeature } from './mfa/passkeys/feature.js';
import { mfaFeature } from './mfa/feature.js';
import { adminFeature } from './admin/feature.js';
import { consoleFeature } from './console/feature.js';
import { privacyFeature } from './privacy/feature.js';
import { brandingFeature } from './branding/feature.js';
import { activationFeature } from './userdata/activation-routes.js';
import { userDetailsFeature } from './userdata/account-routes.js';
import { provisioningFeature } from './provisioning/feature.js';
import { directoriesFeature } from './directories/feature.js';
import { federationFeature } from './federation/feature.js';
import { inboundFeature } from './inbound/feature.js';

/**
 * The features the platform serves, in registration order. Each feature owns
 * its folder (service, routes, views, catalogue) and adds itself here.
 */
export const FEATURES: Feature[] = [
  // Tenant branding: every page request gets its tenant's brand (a hook), and /branding serves its files.
  brandingFeature,
  (app, p) => registerAccountRoutes(app, { sessions: p.accountSessions }),
  (app, p) => registerSelfService(app, p),
  (app, p) => registerRecovery(app, p),
  registrationFeature,
  outboxFeature,
  mfaFeature,
  // The admin APIs under /api/admin/v1 (the MFA reset route included, admin/mfa-routes.ts).
  adminFeature,
  // The admin console (a SPA calling the admin APIs) at /admin.
  consoleFeature,
  passkeysFeature,
  // Data export of one's own data on the account pages (the admin API's export is in adminFeature).
  privacyFeature,
  // Activation: the set-your-password page and the sender of queued activation mails (docs/users.md#activation).
  activationFeature,
  // /account/details: the attributes a tenant shows its users; source-owned ones read-only (docs/users.md#source-ownership).
  userDetailsFeature,
  // The Okta-compatible Users API and SCIM 2.0 (docs/provisioning.md).
  provisioningFeature,
  // LDAP / Active Directory: bind authentication behind the password form, and sync (docs/directories.md).
  directoriesFeature,
  // Upstream identity providers as a sign-in method: buttons, idp_hint, the round trip, linking, JIT (docs/federation.md).
  federationFeature,
  // Inbound contact sync: signed batches from a contact master (docs/webhooks.md#inbound-contact-sync).
  inboundFeature,
];
