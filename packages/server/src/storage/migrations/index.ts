import type { Migration, MigrationProvider } from 'kysely';
import * as m001 from './001_initial.js';
import * as m002 from './002_identity.js';
import * as m003 from './003_registration.js';
import * as m004 from './004_account.js';
import * as m005 from './005_mfa.js';
import * as m006 from './006_passkeys.js';
import * as m007 from './007_admin.js';
import * as m008 from './008_api_token_format.js';
import * as m009 from './009_external_links.js';
import * as m010 from './010_sign_in_sources.js';
import * as m017 from './017_user_data.js';
import * as m024 from './024_tenant_branding.js';
import * as m026 from './026_sms_sends.js';
import * as m013 from './013_signin_state.js';
import * as m014 from './014_identity_providers.js';
import * as m015 from './015_federation_flows.js';
import * as m016 from './016_federated_logout.js';
import * as m018 from './018_user_import.js';
import * as m030 from './030_provisioning.js';
import * as m037 from './037_scale.js';
import * as m034 from './034_directories.js';
import * as m035 from './035_saml_sp_keys.js';
import * as m031 from './031_webhooks.js';
import * as m032 from './032_inbound.js';
import * as m022 from './022_registration_tokens.js';
import * as m040 from './040_declared_passwords.js';
import * as m020 from './020_federation_client_keys.js';
import * as m041 from './041_session_tenant.js';
import * as m042 from './042_partial_payload_indexes.js';

/** Migrations are listed in code (not read from disk) so they run the same under tsx, tests and builds. */
const migrations: Record<string, Migration> = {
  '001_initial': m001,
  '002_identity': m002,
  '003_registration': m003,
  '004_account': m004,
  '005_mfa': m005,
  '006_passkeys': m006,
  '007_admin': m007,
  '008_api_token_format': m008,
  '009_external_links': m009,
  '010_sign_in_sources': m010,
  '017_user_data': m017,
  '024_tenant_branding': m024,
  '026_sms_sends': m026,
  '013_signin_state': m013,
  '014_identity_providers': m014,
  '015_federation_flows': m015,
  '016_federated_logout': m016,
  '018_user_import': m018,
  '030_provisioning': m030,
  '037_scale': m037,
  '034_directories': m034,
  '035_saml_sp_keys': m035,
  '031_webhooks': m031,
  '032_inbound': m032,
  '022_registration_tokens': m022,
  '040_declared_passwords': m040,
  '020_federation_client_keys': m020,
  '041_session_tenant': m041,
  '042_partial_payload_indexes': m042,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
};

export const latestMigration = Object.keys(migrations).sort().at(-1)!;

/** Every migration this version has. */
export const migrationNames: ReadonlySet<string> = new Set(Object.keys(migrations));
